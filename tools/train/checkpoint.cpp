#include "checkpoint.h"

#include <cmath>
#include <cstdio>
#include <limits>
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

// The same ranges the command line accepts: a checkpoint is a file anyone can edit, and its
// settings replace the command line's on --resume.
int64_t integer(const tg::io::Metadata& m, const std::string& key, const std::string& path, int64_t lo, int64_t hi) {
  const std::string& s = entry(m, key, path);
  try {
    size_t used = 0;
    long long v = std::stoll(s, &used);
    if (used == s.size() && v >= lo && v <= hi) return v;
  } catch (const std::exception&) {
  }
  throw std::runtime_error("checkpoint '" + path + "': metadata '" + key + "' is '" + s + "', expected an integer from " +
                           std::to_string(lo) + " to " + std::to_string(hi));
}

}  // namespace

void save_run(const std::string& path, const tg::nn::Module& model, const tg::optim::Optimizer& optimizer,
              const RunState& s) {
  tg::io::Metadata meta{
      {"format", kCheckpointFormat},
      {"epoch", std::to_string(s.epochs_done)},
      {"seed", std::to_string(s.seed)},
      {"model", s.model},
      {"hidden", join_sizes(s.hidden)},
      {"inputs", std::to_string(s.inputs)},
      {"classes", std::to_string(s.classes)},
      {"optimizer", s.optimizer},
      {"lr", exact(s.lr)},
      {"lr_schedule", s.lr_schedule},
      {"total_epochs", std::to_string(s.total_epochs)},
      {"batch_size", std::to_string(s.batch_size)},
      {"ranks", std::to_string(s.ranks)},
      {"limit", std::to_string(s.limit)},
      {"data", s.data_dir},
      {"precision", s.precision},
      {"metrics_csv", metrics_to_csv(s.history)},
  };
  tg::io::save_checkpoint(path, model.state_dict(), optimizer.state_dict(), meta);
}

LoadedRun load_run(const std::string& path) {
  tg::io::Checkpoint tensors;
  try {
    tensors = tg::io::load_checkpoint(path);
  } catch (const tg::Error& e) {
    throw std::runtime_error(std::string("cannot load checkpoint: ") + e.what());
  }
  return read_run(std::move(tensors), path);
}

LoadedRun parse_run(const std::vector<uint8_t>& bytes, const std::string& path) {
  tg::io::Checkpoint tensors;
  try {
    tensors = tg::io::parse_checkpoint(bytes.data(), bytes.size(), path);
  } catch (const tg::Error& e) {
    throw std::runtime_error(std::string("cannot load checkpoint: ") + e.what());
  }
  return read_run(std::move(tensors), path);
}

LoadedRun read_run(tg::io::Checkpoint tensors, const std::string& path) {
  LoadedRun run;
  run.tensors = std::move(tensors);
  const tg::io::Metadata& m = run.tensors.metadata;
  if (entry(m, "format", path) != kCheckpointFormat)
    throw std::runtime_error("checkpoint '" + path + "': format is '" + m.at("format") + "', expected '" +
                             kCheckpointFormat + "'");
  RunState& s = run.state;
  s.epochs_done = integer(m, "epoch", path, 0, kMaxEpochs);
  // Written since --model exists; every checkpoint before it holds an MLP.
  s.model = m.count("model") ? m.at("model") : "mlp";
  if (!is_model_name(s.model))
    throw std::runtime_error("checkpoint '" + path + "': metadata 'model' is '" + s.model + "', expected mlp, cnn, lstm or gru");
  if (s.model != "mlp" && !entry(m, "hidden", path).empty())
    throw std::runtime_error("checkpoint '" + path + "': metadata 'hidden' is '" + m.at("hidden") +
                             "', expected it empty: the " + s.model + " has no hidden widths");
  try {
    s.seed = std::stoull(entry(m, "seed", path));
    s.hidden = parse_sizes(entry(m, "hidden", path));
    s.lr = std::stod(entry(m, "lr", path));
    s.history = metrics_from_csv(entry(m, "metrics_csv", path));
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint '" + path + "': " + e.what());
  }
  if (!(s.lr > 0) || !std::isfinite(s.lr))
    throw std::runtime_error("checkpoint '" + path + "': metadata 'lr' is '" + m.at("lr") +
                             "', expected a positive finite number");
  // Written since --lr-schedule exists; every checkpoint before it trained at a constant lr, and
  // did not record the total its --epochs asked for.
  s.lr_schedule = m.count("lr_schedule") ? m.at("lr_schedule") : "constant";
  if (!is_lr_schedule_name(s.lr_schedule))
    throw std::runtime_error("checkpoint '" + path + "': metadata 'lr_schedule' is '" + s.lr_schedule +
                             "', expected constant or cosine");
  s.total_epochs = m.count("total_epochs") ? integer(m, "total_epochs", path, 1, kMaxEpochs) : 0;
  s.inputs = integer(m, "inputs", path, 1, kMaxWidth);
  s.classes = integer(m, "classes", path, 1, kMaxWidth);
  s.optimizer = entry(m, "optimizer", path);
  if (!is_optimizer_name(s.optimizer))
    throw std::runtime_error("checkpoint '" + path + "': metadata 'optimizer' is '" + s.optimizer + "', expected one of " +
                             optimizer_names());
  s.batch_size = integer(m, "batch_size", path, 1, kMaxBatchSize);
  // Written since data-parallel training exists; every checkpoint before it is of one process.
  s.ranks = m.count("ranks") ? integer(m, "ranks", path, 1, kMaxRanks) : 1;
  s.limit = integer(m, "limit", path, 0, std::numeric_limits<int64_t>::max());
  s.data_dir = entry(m, "data", path);
  // Written since --precision exists; every checkpoint before it trained in float32.
  s.precision = m.count("precision") ? m.at("precision") : "f32";
  if (s.precision != "f32" && s.precision != "bf16")
    throw std::runtime_error("checkpoint '" + path + "': metadata 'precision' is '" + s.precision +
                             "', expected f32 or bf16");
  return run;
}

void restore_run(const tg::io::Checkpoint& tensors, tg::nn::Module& model, tg::optim::Optimizer& optimizer,
                 const std::string& path) {
  try {
    model.load_state_dict(tensors.model);
    optimizer.load_state_dict(tensors.optimizer);
  } catch (const tg::Error& e) {
    throw std::runtime_error("checkpoint '" + path + "' does not fit the model: " + e.what());
  }
}

}  // namespace tapegrad_train
