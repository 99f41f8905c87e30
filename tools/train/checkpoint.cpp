#include "checkpoint.h"

#include <cstdio>
#include <stdexcept>

#include "options.h"

namespace tg = tapegrad;

namespace tapegrad_train {
namespace {

std::string exact(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);  // round-trips every double
  return buf;
}

const std::string& entry(const tg::io::Metadata& m, const std::string& key, const std::string& path) {
  auto it = m.find(key);
  if (it == m.end()) throw std::runtime_error("checkpoint '" + path + "': metadata has no '" + key + "'");
  return it->second;
}

int64_t integer(const tg::io::Metadata& m, const std::string& key, const std::string& path) {
  const std::string& s = entry(m, key, path);
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size() && v >= 0) return v;
  } catch (const std::exception&) {
  }
  throw std::runtime_error("checkpoint '" + path + "': metadata '" + key + "' is '" + s +
                           "', expected a non-negative integer");
}

}  // namespace

void save_run(const std::string& path, const tg::nn::Module& model, const tg::optim::Optimizer& optimizer,
              const RunState& s) {
  tg::io::Metadata meta{
      {"format", kCheckpointFormat},
      {"epoch", std::to_string(s.epochs_done)},
      {"seed", std::to_string(s.seed)},
      {"hidden", join_sizes(s.hidden)},
      {"inputs", std::to_string(s.inputs)},
      {"classes", std::to_string(s.classes)},
      {"optimizer", s.optimizer},
      {"lr", exact(s.lr)},
      {"batch_size", std::to_string(s.batch_size)},
      {"limit", std::to_string(s.limit)},
      {"data", s.data_dir},
      {"metrics_csv", metrics_to_csv(s.history)},
  };
  tg::io::save_checkpoint(path, model.state_dict(), optimizer.state_dict(), meta);
}

LoadedRun load_run(const std::string& path) {
  LoadedRun run;
  try {
    run.tensors = tg::io::load_checkpoint(path);
  } catch (const tg::Error& e) {
    throw std::runtime_error(std::string("cannot load checkpoint: ") + e.what());
  }
  const tg::io::Metadata& m = run.tensors.metadata;
  if (entry(m, "format", path) != kCheckpointFormat)
    throw std::runtime_error("checkpoint '" + path + "': format is '" + m.at("format") + "', expected '" +
                             kCheckpointFormat + "'");
  RunState& s = run.state;
  s.epochs_done = integer(m, "epoch", path);
  try {
    s.seed = std::stoull(entry(m, "seed", path));
    s.hidden = parse_sizes(entry(m, "hidden", path));
    s.lr = std::stod(entry(m, "lr", path));
    s.history = metrics_from_csv(entry(m, "metrics_csv", path));
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint '" + path + "': " + e.what());
  }
  s.inputs = integer(m, "inputs", path);
  s.classes = integer(m, "classes", path);
  s.optimizer = entry(m, "optimizer", path);
  s.batch_size = integer(m, "batch_size", path);
  s.limit = integer(m, "limit", path);
  s.data_dir = entry(m, "data", path);
  return run;
}

}  // namespace tapegrad_train
