// libFuzzer target: the training program's --resume path, from the checkpoint's bytes to a model
// and optimizer holding its state. For any input it must either restore, or throw tapegrad::Error
// (from the parser) or std::runtime_error / std::invalid_argument (from the run's checks, which
// name the file and the entry), without crashing, leaking or reading outside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>

#include "checkpoint.h"
#include "mlp.h"
#include "tapegrad/core/error.h"

namespace tg = tapegrad;
namespace tt = tapegrad_train;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    tt::LoadedRun run = tt::read_run(tg::io::parse_checkpoint(data, size, "fuzz"), "fuzz");
    const tt::RunState& s = run.state;
    // The settings are in range (read_run checks them); the model they describe may still be far
    // larger than this target's memory limit, which a real run would meet as a tg::Error.
    int64_t weights = 0, width = s.inputs;
    for (int64_t h : s.hidden) weights += width * h, width = h;
    weights += width * s.classes;
    if (weights > (int64_t{1} << 20)) return 0;
    tg::nn::Sequential model = tt::build_mlp(s.inputs, s.hidden, s.classes, s.seed);
    auto optimizer = tt::make_optimizer(s.optimizer, model.parameters(), s.lr);
    tt::restore_run(run.tensors, model, *optimizer, "fuzz");
    // What was restored saves and reads back as the same run.
    if (model.state_dict().size() != run.tensors.model.size()) std::abort();
  } catch (const tg::Error&) {
  } catch (const std::runtime_error&) {
  } catch (const std::invalid_argument&) {
  }
  return 0;
}
