#pragma once
/// \file options.h
/// The settings of one training run, and parsing them from the command line (CLI11).
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tapegrad_train {

/// The ranges the command line accepts, which a checkpoint's settings are held to as well.
inline constexpr int64_t kMaxEpochs = 100000;
inline constexpr int64_t kMaxBatchSize = int64_t{1} << 30;
inline constexpr int64_t kMaxWidth = 1'000'000;  ///< of a layer: hidden, input or output
inline constexpr int64_t kMaxRanks = int64_t{1} << 24;  ///< processes of a data-parallel run

/// The optimizers make_optimizer knows, in the order the help lists them.
const std::vector<std::string>& optimizer_name_list();
/// True if `name` is in optimizer_name_list().
bool is_optimizer_name(const std::string& name);
/// "sgd, momentum, adam, adamw, adagrad or rmsprop".
std::string optimizer_names();

/// The models the tool builds: "mlp" (build_mlp, shaped by --hidden), "cnn" (build_cnn), "lstm" and "gru" (build_recurrent).
const std::vector<std::string>& model_name_list();
/// True if `name` is in model_name_list().
bool is_model_name(const std::string& name);

/// The learning-rate schedules, in the order the help lists them: "constant" (--lr every epoch) and
/// "cosine" (CosineAnnealingLR from --lr down to 0 over --epochs, stepped once per epoch).
const std::vector<std::string>& lr_schedule_name_list();
/// True if `name` is in lr_schedule_name_list().
bool is_lr_schedule_name(const std::string& name);

/// Everything a run needs to know; defaults give the classic 784-50-10 net on Fashion-MNIST.
/// With --model cnn, the optimizer, batch size and schedule not given default to momentum, 64 and
/// cosine instead; with --model lstm and gru, the optimizer and batch size to adam and 64.
struct TrainOptions {
  std::string data_dir = "/usr/share/datasets/fashion-mnist";  ///< MNIST-format directory
  std::string model = "mlp";           ///< mlp, cnn, lstm or gru
  std::vector<int64_t> hidden = {50};  ///< hidden layer widths of the mlp, each followed by ReLU (empty for the others)
  std::string optimizer = "sgd";       ///< sgd, momentum, adam, adamw, adagrad or rmsprop
  double lr = 0.1;                     ///< learning rate (default depends on the optimizer)
  std::string lr_schedule = "constant";  ///< constant or cosine (the default with --model cnn)
  int64_t epochs = 10;                 ///< total epochs, counting those of a resumed run
  int64_t batch_size = 100;            ///< examples per mini-batch
  uint64_t seed = 1;                   ///< seeds the initial weights and the shuffle order
  int threads = 1;                     ///< threads per matrix product (0: all cores)
  std::string out_dir = "out/fashion-mnist";  ///< where checkpoint, CSV and plot go
  bool resume = false;                 ///< continue from the checkpoint in out_dir
  int64_t limit = 0;                   ///< use only the first N training examples (0: all)
  int64_t test_limit = 0;              ///< use only the first N test examples (0: all)
  bool plot = true;                    ///< render the PNG with gnuplot
  bool compile = true;                 ///< replay a compiled training step (--no-compile: eager)
  /// "f32", or "bf16": the products (Linear, Conv2d, the recurrent layers' matmuls) under
  /// tg::AutocastGuard, with bfloat16 operands and float32 weights, gradients and updates.
  std::string precision = "f32";
  /// Options the user gave explicitly (by long name, e.g. "hidden"): on --resume these must agree
  /// with the checkpoint, the others are taken from it.
  std::set<std::string> given;
};

/// The precisions --precision takes: "f32" and "bf16".
const std::vector<std::string>& precision_name_list();

/// The learning rate used when --lr is not given: 0.1 for SGD (the classic setting),
/// 0.05 with momentum, 1e-3 for Adam/AdamW/RMSprop, 1e-2 for Adagrad.
double default_lr(const std::string& optimizer);

/// Parses argv. Returns the options, or an exit code when the run should stop here (0 after
/// --help or --version, 2 after a usage error, whose message has been printed).
struct ParseResult {
  std::optional<TrainOptions> options;  ///< set when training should go ahead
  int exit_code = 0;                    ///< meaningful when options is empty
};
ParseResult parse_options(int argc, char** argv);

/// "256,128" for {256, 128}.
std::string join_sizes(const std::vector<int64_t>& sizes);
/// {256, 128} for "256,128"; throws std::invalid_argument naming the bad entry.
std::vector<int64_t> parse_sizes(const std::string& text);

}  // namespace tapegrad_train
