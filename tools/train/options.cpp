#include "options.h"

#include <CLI/CLI.hpp>

#include <sstream>
#include <stdexcept>
#include <thread>

namespace tapegrad_train {

const std::vector<std::string>& precision_name_list() {
  static const std::vector<std::string> names = {"f32", "bf16"};
  return names;
}

double default_lr(const std::string& optimizer) {
  if (optimizer == "sgd") return 0.1;
  if (optimizer == "momentum") return 0.05;
  if (optimizer == "adagrad") return 1e-2;
  return 1e-3;  // adam, adamw, rmsprop
}

std::string join_sizes(const std::vector<int64_t>& sizes) {
  std::string s;
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? "," : "") + std::to_string(sizes[i]);
  return s;
}

std::vector<int64_t> parse_sizes(const std::string& text) {
  std::vector<int64_t> sizes;
  if (text.empty() || text == "none") return sizes;  // a linear model: no hidden layer
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || item.empty() || v < 1 || v > kMaxWidth)
      throw std::invalid_argument("hidden layer width '" + item + "' in '" + text +
                                  "' is not an integer between 1 and " + std::to_string(kMaxWidth));
    sizes.push_back(v);
  }
  return sizes;
}

const std::vector<std::string>& optimizer_name_list() {
  static const std::vector<std::string> names{"sgd", "momentum", "adam", "adamw", "adagrad", "rmsprop"};
  return names;
}

bool is_optimizer_name(const std::string& name) {
  for (const std::string& n : optimizer_name_list())
    if (n == name) return true;
  return false;
}

std::string optimizer_names() {
  const std::vector<std::string>& n = optimizer_name_list();
  std::string s;
  for (size_t i = 0; i < n.size(); ++i) {
    if (i > 0) s += i + 1 == n.size() ? " or " : ", ";
    s += n[i];
  }
  return s;
}

const std::vector<std::string>& model_name_list() {
  static const std::vector<std::string> names{"mlp", "cnn", "lstm", "gru"};
  return names;
}

bool is_model_name(const std::string& name) {
  for (const std::string& n : model_name_list())
    if (n == name) return true;
  return false;
}

const std::vector<std::string>& lr_schedule_name_list() {
  static const std::vector<std::string> names{"constant", "cosine"};
  return names;
}

bool is_lr_schedule_name(const std::string& name) {
  for (const std::string& n : lr_schedule_name_list())
    if (n == name) return true;
  return false;
}

ParseResult parse_options(int argc, char** argv) {
  TrainOptions o;
  CLI::App app{
      "Trains a multilayer perceptron (ReLU hidden layers, softmax cross-entropy) on an MNIST-format\n"
      "dataset, by default Fashion-MNIST with the classic 784-50-10 net and SGD (lr 0.1, batch 100);\n"
      "--model cnn trains a small convolutional net instead (SGD with momentum, lr 0.05 annealed to 0\n"
      "along a cosine, batch 64); --model lstm and --model gru read each image as a sequence of its 28\n"
      "rows (Adam, lr 0.001, batch 64).\n"
      "Writes checkpoint.safetensors, metrics.csv, curves.png and curves.gp (the gnuplot script\n"
      "that drew it) to the output directory after every epoch; --resume continues from that\n"
      "checkpoint and ends with the same weights, bit for bit, as an uninterrupted run. train_loss\n"
      "and train_acc are averaged over the epoch's mini-batches (each measured before its update);\n"
      "test_loss and test_acc are measured on the test set after the epoch.",
      "tapegrad-train"};
  app.set_version_flag("--version", "tapegrad-train 0.1.0");
  std::string hidden = join_sizes(o.hidden);
  double lr = 0;
  app.add_option("--data", o.data_dir,
                 "MNIST-format directory: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
                 "t10k-labels-idx1-ubyte, each plain or .gz")
      ->capture_default_str();
  app.add_option("--model", o.model,
                 "mlp: Linear layers of the --hidden widths, each followed by ReLU, then one to the classes. "
                 "cnn: for 28x28 images, Conv2d(1->32, 3x3, padding 1), ReLU, MaxPool2d(2), Conv2d(32->64, 3x3, "
                 "padding 1), ReLU, MaxPool2d(2), Flatten, Linear(3136->128), ReLU, Linear(128->classes); "
                 "its defaults are --optimizer momentum, --lr 0.05, --batch-size 64, --lr-schedule cosine. "
                 "lstm, gru: for 28x28 images, each a sequence of 28 rows of 28 pixels, LSTM (or GRU) (28->128), "
                 "its last step, Linear(128->classes); their defaults are --optimizer adam, --lr 0.001, "
                 "--batch-size 64")
      ->check(CLI::IsMember(model_name_list()))
      ->capture_default_str();
  app.add_option("--hidden", hidden,
                 "hidden layer widths of --model mlp, comma-separated ('none' for a linear model)")
      ->capture_default_str();
  app.add_option("--optimizer", o.optimizer, "optimizer [default: sgd; momentum with --model cnn; adam with lstm and gru]")
      ->check(CLI::IsMember(optimizer_name_list()));
  app.add_option("--lr", lr, "learning rate [default: 0.1 sgd, 0.05 momentum, 0.01 adagrad, 0.001 adam/adamw/rmsprop]")
      ->check(CLI::PositiveNumber);
  app.add_option("--lr-schedule", o.lr_schedule,
                 "learning rate of each epoch: constant keeps --lr; cosine anneals it from --lr to 0 over --epochs, "
                 "epoch e (from 0) taking lr * (1 + cos(pi e / epochs)) / 2 "
                 "[default: constant; cosine with --model cnn]")
      ->check(CLI::IsMember(lr_schedule_name_list()));
  app.add_option("--epochs", o.epochs, "total number of epochs (a resumed run counts the ones already done)")
      ->check(CLI::Range(int64_t{1}, kMaxEpochs))
      ->capture_default_str();
  app.add_option("--batch-size", o.batch_size, "examples per mini-batch [default: 100; 64 with --model cnn, lstm and gru]")
      ->check(CLI::Range(int64_t{1}, kMaxBatchSize));
  app.add_option("--seed", o.seed, "seed of the initial weights and of the shuffle order")->capture_default_str();
  app.add_option("--threads", o.threads, "threads per large matrix product (0: all cores); results are bit-identical run after run for a given count, but differ in the last bits between counts")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  app.add_option("--out", o.out_dir, "output directory (created if missing)")->capture_default_str();
  app.add_flag("--resume", o.resume, "continue from the checkpoint in the output directory");
  app.add_option("--limit", o.limit, "use only the first N training examples (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--test-limit", o.test_limit, "use only the first N test examples (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--precision", o.precision,
                 "f32: everything in float32. bf16: mixed precision, as torch.autocast: matrix products and "
                 "convolutions take bfloat16 operands and accumulate in float32; weights, gradients and updates stay "
                 "float32 (on the processor's bfloat16 units where it has them; the log says which path ran)")
      ->check(CLI::IsMember(precision_name_list()))
      ->capture_default_str();
  bool no_plot = false;
  app.add_flag("--no-plot", no_plot, "do not render curves.png");
  bool no_compile = false;
  app.add_flag("--no-compile", no_compile,
               "run each training step eagerly instead of replaying a compiled one (the weights are the same bit for bit)");

  try {
    app.parse(argc, argv);
    o.hidden = parse_sizes(hidden);
  } catch (const CLI::ParseError& e) {
    return {std::nullopt, app.exit(e) == 0 ? 0 : 2};
  } catch (const std::invalid_argument& e) {
    std::cerr << "--hidden: " << e.what() << "\nRun with --help for more information.\n";
    return {std::nullopt, 2};
  }
  for (const char* name :
       {"data", "model", "hidden", "optimizer", "lr", "lr-schedule", "epochs", "batch-size", "seed", "limit",
        "precision"})
    if (app.get_option(std::string("--") + name)->count() > 0) o.given.insert(name);
  if (o.model != "mlp") {
    if (o.given.count("hidden")) {
      std::cerr << "--hidden applies to --model mlp; the layers of --model " << o.model << " are fixed\n"
                   "Run with --help for more information.\n";
      return {std::nullopt, 2};
    }
    o.hidden.clear();
    if (!o.given.count("batch-size")) o.batch_size = 64;
  }
  if (o.model == "cnn") {
    // The CNN's own defaults (the --lr default follows the optimizer: 0.05); a flag given still wins.
    if (!o.given.count("optimizer")) o.optimizer = "momentum";
    // At a constant lr the CNN overfits after about 5 epochs of Fashion-MNIST (test loss rising,
    // accuracy falling back); annealing the lr to 0 lets the last epochs settle instead.
    if (!o.given.count("lr-schedule")) o.lr_schedule = "cosine";
  }
  // The recurrent nets' defaults (the --lr default follows the optimizer: 0.001): plain SGD
  // crawls through 28 steps of saturating gates, Adam does not.
  if ((o.model == "lstm" || o.model == "gru") && !o.given.count("optimizer")) o.optimizer = "adam";
  o.lr = o.given.count("lr") ? lr : default_lr(o.optimizer);
  if (o.threads == 0) o.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  o.plot = !no_plot;
  o.compile = !no_compile;
  return {o, 0};
}

}  // namespace tapegrad_train
