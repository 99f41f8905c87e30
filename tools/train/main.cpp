// tapegrad-train: trains a multilayer perceptron, (--model cnn) a small convolutional net or
// (--model lstm, gru) a recurrent net reading each image's rows as a sequence, on an
// MNIST-format dataset (by default Fashion-MNIST) and writes a checkpoint, a metrics CSV and a plot
// of the curves after every epoch.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <tapegrad/tapegrad.h>

#include <tapegrad/io/atomic_file.h>
#include "checkpoint.h"
#include "cnn.h"
#include "rnn.h"
#include "dataset.h"
#include "metrics.h"
#include "mlp.h"
#include "options.h"
#include "plot.h"
#include "progress_bar.h"
#include "schedule.h"
#include "trainer.h"

namespace fs = std::filesystem;
namespace tg = tapegrad;
using namespace tapegrad_train;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Where the run's files go.
struct OutputPaths {
  std::string checkpoint, csv, png, script;
  explicit OutputPaths(const std::string& dir) {
    const fs::path d = fs::absolute(dir).lexically_normal();  // printed at the end: say exactly where
    checkpoint = (d / "checkpoint.safetensors").string();
    csv = (d / "metrics.csv").string();
    png = (d / "curves.png").string();
    script = (d / "curves.gp").string();
  }
};

// Text of an option's value for error messages.
template <class T>
std::string show(const T& v) {
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) return join_sizes(v);
  else if constexpr (std::is_same_v<T, std::string>) return v;
  else return fmt::format("{}", v);
}

// On --resume, settings come from the checkpoint; one the user also gave must agree with it.
template <class T>
void adopt(const TrainOptions& o, const char* name, T& option, const T& saved) {
  if (o.given.count(name) && option != saved)
    throw std::runtime_error(std::string("--") + name + " " + show(option) + " differs from the checkpoint's " +
                             show(saved) + "; a resumed run keeps its settings (use another --out to start a new run)");
  option = saved;
}

void adopt_settings(TrainOptions& o, const RunState& saved, const std::string& path, int ranks) {
  // The launcher, not a flag, sets the number of ranks, and with --batch-size it makes the batch
  // the optimizer sees: another count would train another run.
  if (saved.ranks != ranks)
    throw std::runtime_error("the checkpoint '" + path + "' was trained by " + std::to_string(saved.ranks) +
                             " rank(s) with --batch-size " + std::to_string(saved.batch_size) + " each, but this run has " +
                             std::to_string(ranks) + "; resume it with " +
                             (saved.ranks == 1 ? std::string("one process") : "mpirun -np " + std::to_string(saved.ranks)) +
                             ", or start a new run with another --out");
  adopt(o, "model", o.model, saved.model);
  if (o.model != "mlp" && o.given.count("hidden"))
    throw std::runtime_error("--hidden applies to --model mlp, but the checkpoint '" + path + "' holds a " + o.model);
  adopt(o, "hidden", o.hidden, saved.hidden);
  adopt(o, "optimizer", o.optimizer, saved.optimizer);
  adopt(o, "lr", o.lr, saved.lr);
  adopt(o, "lr-schedule", o.lr_schedule, saved.lr_schedule);
  adopt(o, "batch-size", o.batch_size, saved.batch_size);
  adopt(o, "seed", o.seed, saved.seed);
  adopt(o, "limit", o.limit, saved.limit);
  adopt(o, "precision", o.precision, saved.precision);
  if (!o.given.count("data")) o.data_dir = saved.data_dir;  // the data may have moved: --data wins
}

// A cosine spans --epochs: resuming with another total re-plans the epochs left, which an
// uninterrupted run of the new total would not have matched in the epochs already done (epoch 1
// takes --lr whatever the total, so a checkpoint of one epoch can be extended freely).
void warn_if_replanned(const TrainOptions& o, const RunState& saved) {
  if (o.lr_schedule != "cosine" || saved.total_epochs == 0 || saved.total_epochs == o.epochs ||
      saved.epochs_done < 2 || saved.epochs_done >= o.epochs)
    return;
  spdlog::warn("--epochs {} differs from the checkpoint's {}: from epoch {} on, the cosine schedule is re-planned over "
               "{} epochs, so the run will not match an uninterrupted {}-epoch one",
               o.epochs, saved.total_epochs, saved.epochs_done + 1, o.epochs, o.epochs);
}

// "%g" of a learning rate: 0.05, 0.0488, 1e-05.
std::string lr_string(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", lr);
  return buf;
}

// The checkpoint to resume, on every rank: rank 0 reads the file and sends its bytes, so that the
// other ranks need not share its file system.
LoadedRun load_resumed(const std::string& path) {
  if (tg::dist::is_main() && !fs::exists(path))
    throw std::runtime_error("--resume: no checkpoint at '" + path + "' (run without --resume to start training there)");
  if (tg::dist::size() == 1) return load_run(path);
  std::vector<uint8_t> bytes;
  if (tg::dist::is_main()) {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw std::runtime_error("--resume: cannot read '" + path + "'");
  }
  tg::dist::broadcast(bytes);
  return parse_run(bytes, path);
}

std::string percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", 100 * fraction);
  return buf;
}

int run(TrainOptions o) {
  const auto start = Clock::now();
  tg::set_num_threads(o.threads);
  const OutputPaths out(o.out_dir);
  // Data-parallel under an MPI launcher: every rank trains the same model on its share of each
  // batch; rank 0 alone writes the files and prints progress.
  const int ranks = tg::dist::size(), rank = tg::dist::rank();
  const bool distributed = ranks > 1, main_rank = rank == 0;

  // ---- what to continue from ----
  std::unique_ptr<LoadedRun> resumed;
  if (o.resume) {
    resumed = std::make_unique<LoadedRun>(load_resumed(out.checkpoint));
    adopt_settings(o, resumed->state, out.checkpoint, ranks);
    spdlog::info("resuming from {} after epoch {}", out.checkpoint, resumed->state.epochs_done);
  } else if (main_rank && fs::exists(out.checkpoint)) {
    spdlog::info("starting a new run; the checkpoint in {} will be replaced (use --resume to continue it)", o.out_dir);
  }

  // ---- data ----
  const auto load_start = Clock::now();
  const tg::data::Dataset train = load_split(o.data_dir, tg::data::Split::train, o.limit);
  const tg::data::Dataset test = load_split(o.data_dir, tg::data::Split::test, o.test_limit);
  const int64_t inputs = train.features(), classes = std::max(class_count(train), class_count(test));
  if (test.features() != inputs)
    throw std::runtime_error("the test images have " + std::to_string(test.features()) + " features but the training "
                             "images have " + std::to_string(inputs));
  spdlog::info("data: {} ({} training, {} test examples, {} features, {} classes) loaded in {:.2f} s", o.data_dir,
               train.size(), test.size(), inputs, classes, seconds_since(load_start));
  const bool cnn = o.model == "cnn", recurrent = o.model == "lstm" || o.model == "gru";
  if ((cnn || recurrent) && inputs != kCnnInputs)
    throw std::runtime_error("--model " + o.model + " takes " + std::to_string(kCnnImageSide) + "x" +
                             std::to_string(kCnnImageSide) + " images (" + std::to_string(kCnnInputs) +
                             " features), but the images in '" + o.data_dir + "' have " + std::to_string(inputs) +
                             " features");

  // ---- model and optimizer ----
  tg::nn::Sequential model = cnn         ? build_cnn(classes, o.seed)
                             : recurrent ? build_recurrent(o.model, classes, o.seed)
                                         : build_mlp(inputs, o.hidden, classes, o.seed);
  auto optimizer = make_optimizer(o.optimizer, model.parameters(), o.lr);
  RunState state{.seed = o.seed, .model = o.model, .hidden = o.hidden, .inputs = inputs, .classes = classes,
                 .optimizer = o.optimizer, .lr = o.lr, .lr_schedule = o.lr_schedule, .total_epochs = o.epochs,
                 .batch_size = o.batch_size, .ranks = ranks, .limit = o.limit, .data_dir = o.data_dir,
                 .precision = o.precision, .history = {}};
  if (resumed) {
    const RunState& saved = resumed->state;
    if (saved.inputs != inputs || saved.classes != classes)
      throw std::runtime_error("the checkpoint's model takes " + std::to_string(saved.inputs) + " features to " +
                               std::to_string(saved.classes) + " classes, but the data in '" + o.data_dir + "' has " +
                               std::to_string(inputs) + " features and " + std::to_string(classes) + " classes");
    restore_run(resumed->tensors, model, *optimizer, out.checkpoint);
    state.epochs_done = saved.epochs_done;
    state.history = saved.history;
    warn_if_replanned(o, saved);
    resumed.reset();
  }
  // Rank 0's weights on every rank (the same seed built them, but this also proves every rank
  // built the same model, which the gradient exchange relies on).
  std::optional<tg::dist::GradientAverager> averager;
  if (distributed) {
    tg::dist::broadcast_state(model);
    averager.emplace(model.parameters());
  }
  // After the restore, which set the lr the checkpoint saved: this sets the lr of the next epoch.
  const std::unique_ptr<tg::optim::LRScheduler> scheduler =
      make_lr_scheduler(o.lr_schedule, *optimizer, o.lr, o.epochs, state.epochs_done);
  const std::string arch = cnn         ? describe_cnn(classes)
                           : recurrent ? describe_recurrent(o.model, classes)
                                       : describe_mlp(inputs, o.hidden, classes);
  // "lr 0.05 cosine"; a constant lr shows as the bare number, as it did before --lr-schedule.
  const std::string lr_text = lr_string(o.lr) + (scheduler ? " " + o.lr_schedule : "");
  const std::string batch_text =
      std::to_string(o.batch_size) + (distributed ? " x " + std::to_string(ranks) + " ranks" : "");
  const std::string kind = cnn ? " CNN, " : o.model == "lstm" ? " LSTM, " : o.model == "gru" ? " GRU, " : " MLP, ";
  const std::string title = arch + kind + o.optimizer + " lr " + lr_text + ", batch " +
                            batch_text + ", seed " + std::to_string(o.seed);
  spdlog::info("model: {} ({} parameters), {} lr {}, batch {}, seed {}, {} thread(s){}", arch, model.parameter_count(),
               o.optimizer, lr_text, batch_text, o.seed, o.threads, distributed ? " per rank" : "");
  if (o.precision == "bf16") spdlog::info("precision: bf16 autocast, products as {}", tg::bf16_path());
  if (averager)
    spdlog::info("gradients averaged over {} ranks after each backward: {:.2f} MB in {} message(s)", ranks,
                 averager->bytes() / 1e6, averager->buckets());

  if (main_rank) fs::create_directories(o.out_dir);
  tg::data::DataLoader loader(train, {.batch_size = o.batch_size, .shuffle = true, .seed = o.seed,
                                      .replicas = ranks, .rank = rank});
  const bool tty = main_rank && is_terminal(stdout);
  PlotResult plot{false, o.plot ? "no epoch was run" : "disabled by --no-plot"};
  int64_t trained = 0;

  if (state.epochs_done >= o.epochs)
    spdlog::info("the checkpoint already has {} epoch(s) (--epochs {}): nothing to train", state.epochs_done, o.epochs);

  // ---- training ----
  const tg::Dtype precision = o.precision == "bf16" ? tg::Dtype::bf16 : tg::Dtype::f32;
  TrainStep step(model, *optimizer, o.compile, precision);
  for (int64_t e = state.epochs_done; e < o.epochs; ++e) {
    const auto epoch_start = Clock::now();
    const double epoch_lr = optimizer->lr();
    loader.set_epoch(e);  // the shuffle order depends on (seed, epoch) only: a resumed run sees the same
    const std::string label = "epoch " + std::to_string(e + 1) + "/" + std::to_string(o.epochs);
    std::unique_ptr<ProgressBar> bar = tty ? std::make_unique<ProgressBar>(label, loader.size()) : nullptr;
    const EpochTotals t = train_epoch(
        step, model, loader,
        [&](int64_t done, int64_t seen, double loss) {
          if (bar) bar->update(done, seen * ranks, loss);
        },
        averager ? &*averager : nullptr);
    const double train_seconds = seconds_since(epoch_start);
    if (bar) bar->clear();
    if (distributed) tg::dist::broadcast_buffers(model);  // one set of running statistics, rank 0's
    const Evaluation on_test = evaluate(model, test, 1000, distributed, precision);
    const EpochMetrics m{e + 1, t.mean_loss, t.accuracy, on_test.loss, on_test.accuracy, seconds_since(epoch_start),
                         epoch_lr};
    spdlog::info("{}: train loss {:.4f}, train acc {}, test loss {:.4f}, test acc {}, {}{:.2f} s ({:.0f} samples/s)",
                 label, m.train_loss, percent(m.train_acc), m.test_loss, percent(m.test_acc),
                 scheduler ? "lr " + lr_string(epoch_lr) + ", " : "", m.seconds, t.samples / train_seconds);
    if (distributed)
      spdlog::info("{}: gradient allreduce {:.2f} ms per step on rank 0 ({:.1f}% of its training time)", label,
                   1e3 * t.allreduce_seconds / static_cast<double>(std::max<int64_t>(1, loader.size())),
                   100 * t.allreduce_seconds / train_seconds);

    state.epochs_done = e + 1;
    ++trained;
    state.history.push_back(m);
    if (scheduler) scheduler->step();  // before the save: the checkpoint holds the next epoch's lr
    if (!main_rank) continue;
    save_run(out.checkpoint, model, *optimizer, state);
    tapegrad::io::write_file_atomic(out.csv, metrics_to_csv(state.history));
    if (o.plot) {
      plot = render_plot(out.csv, out.png, out.script, title);
      if (!plot.rendered) spdlog::warn("plot skipped: {}", plot.reason);
    }
  }
  if (trained == 0 && !state.history.empty() && main_rank) {  // nothing new: still leave complete outputs
    tapegrad::io::write_file_atomic(out.csv, metrics_to_csv(state.history));
    if (o.plot) plot = render_plot(out.csv, out.png, out.script, title);
  }

  // ---- summary ----
  const double final_acc =
      state.history.empty() ? evaluate(model, test, 1000, distributed, precision).accuracy : state.history.back().test_acc;
  const double wall = seconds_since(start);
  if (!main_rank) return 0;
  spdlog::info("done: {} epoch(s), final test accuracy {}, wall time {:.1f} s", state.epochs_done, percent(final_acc),
               wall);
  std::printf("\nfinal test accuracy: %s after %lld epoch(s) (%s)\n", percent(final_acc).c_str(),
              static_cast<long long>(state.epochs_done), title.c_str());
  std::printf("wall time:  %.1f s\n", wall);
  std::printf("checkpoint: %s\n", out.checkpoint.c_str());
  std::printf("metrics:    %s\n", out.csv.c_str());
  if (plot.rendered)
    std::printf("plot:       %s\n", out.png.c_str());
  else
    std::printf("plot:       not rendered (%s)\n", plot.reason.c_str());
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Started by an MPI launcher, the process is one rank of a data-parallel job; started directly,
  // it is a job of one and MPI is never initialised.
  std::optional<tg::dist::Environment> job;
  try {
    if (tg::dist::launched()) job.emplace(&argc, &argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  ParseResult parsed = parse_options(argc, argv);
  if (!parsed.options) {
    // Every rank printed the error; one that merely returned would leave the others waiting.
    if (parsed.exit_code != 0 && tg::dist::size() > 1) tg::dist::abort("the command line was refused (see above)", parsed.exit_code);
    return parsed.exit_code;
  }
  // Colour codes only on a terminal: a log piped to a file (or from a rank of an MPI job, see
  // is_terminal) gets plain text.
  const auto colour = [](std::FILE* stream) {
    return is_terminal(stream) ? spdlog::color_mode::automatic : spdlog::color_mode::never;
  };
  spdlog::set_default_logger(
      std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::stdout_color_sink_mt>(colour(stdout))));
  spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
  if (!tg::dist::is_main()) spdlog::set_level(spdlog::level::warn);  // rank 0 speaks for the job
  try {
    return run(*parsed.options);
  } catch (const std::exception& e) {
    // A failing rank ends the job with its message: the others would wait for it forever.
    if (tg::dist::size() > 1) tg::dist::abort(e.what());
    std::fflush(stdout);
    spdlog::stderr_color_mt("error", colour(stderr))->error("{}", e.what());
    return 1;
  }
}
