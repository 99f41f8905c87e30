// The tapegrad half of interop_test.py: one small CNN and one small LSTM classifier, saved for
// PyTorch and loaded from it.
//
//   interop_model export DIR [cnn|lstm]  trains the model a few SGD steps on random data (BatchNorm's running
//                             statistics move), switches to eval mode and writes
//                             DIR/tapegrad_model.safetensors (save_torch_state_dict) and
//                             DIR/tapegrad_io.safetensors ("x", a batch of inputs, and "logits")
//   interop_model import DIR [cnn|lstm]  loads DIR/torch_model.safetensors (load_torch_state_dict), runs the
//                             "x" of DIR/torch_io.safetensors through the CNN in eval mode and
//                             compares with its "logits": exit status 1 if any differs by > 1e-5
//
// The architectures are interop_test.py's cnn() and lstm(); change both together. The LSTM's
// model is Sequential{LSTM, Select, Linear}, whose names ("0.weight_ih_l0", "2.weight") the
// Python side gives its modules.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {

constexpr int kTrainSteps = 4;
constexpr double kTolerance = 1e-5;

tg::nn::Sequential cnn() {
  return tg::nn::Sequential{tg::nn::Unflatten(1, {1, 12, 12}),            // [N, 144] -> [N, 1, 12, 12]
                            tg::nn::Conv2d(1, 4, 3, {.padding = 1}),      // -> [N, 4, 12, 12]
                            tg::nn::BatchNorm2d(4),
                            tg::nn::ReLU(),
                            tg::nn::MaxPool2d(2),                         // -> [N, 4, 6, 6]
                            tg::nn::Conv2d(4, 6, 3),                      // -> [N, 6, 4, 4]
                            tg::nn::AvgPool2d(2),                         // -> [N, 6, 2, 2]
                            tg::nn::Flatten(),                            // -> [N, 24]
                            tg::nn::Linear(24, 16),
                            tg::nn::BatchNorm1d(16),
                            tg::nn::ReLU(),
                            tg::nn::Linear(16, 3)};
}

// Two layers, both directions, batch-first sequences of 6 features; the head reads the last step.
tg::nn::Sequential lstm() {
  return tg::nn::Sequential{tg::nn::LSTM(6, 5, {.num_layers = 2, .batch_first = true, .bidirectional = true}),
                            tg::nn::Select(1, -1), tg::nn::Linear(10, 3)};
}

tg::nn::Sequential model(const std::string& name) { return name == "lstm" ? lstm() : cnn(); }
tg::Tensor inputs(const std::string& name, int64_t n, tg::Generator& gen) {
  return name == "lstm" ? tg::randn({n, 4, 6}, gen) : tg::randn({n, 144}, gen);
}

const tg::Tensor& find(const tg::NamedTensors& tensors, const std::string& name, const std::string& path) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  throw tg::Error(path + " has no tensor '" + name + "'");
}

int export_model(const std::string& dir, const std::string& name) {
  tg::nn::manual_seed(1);
  tg::nn::Sequential net = model(name);
  tg::Generator gen(2);
  const tg::Tensor x = inputs(name, 16, gen);
  std::vector<int64_t> labels(16);
  for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int64_t>(i % 3);
  tg::optim::SGD sgd(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  for (int step = 0; step < kTrainSteps; ++step) {
    sgd.zero_grad();
    tg::softmax_cross_entropy(net(x), labels).backward();
    sgd.step();
  }
  net.eval();
  const tg::Tensor test_x = inputs(name, 5, gen);
  tg::io::save_torch_state_dict(net, dir + "/tapegrad_model.safetensors");
  tg::io::save_safetensors(dir + "/tapegrad_io.safetensors", {{"x", test_x}, {"logits", net(test_x).detach()}});
  std::printf("interop_model: wrote %s/tapegrad_model.safetensors (%s) after %d SGD steps\n", dir.c_str(), name.c_str(),
              kTrainSteps);
  return 0;
}

int import_model(const std::string& dir, const std::string& name) {
  tg::nn::manual_seed(3);  // another initialisation, which loading must replace entirely
  tg::nn::Sequential net = model(name);
  tg::io::load_torch_state_dict(net, dir + "/torch_model.safetensors");
  net.eval();
  const std::string io_path = dir + "/torch_io.safetensors";
  const tg::NamedTensors io = tg::io::load_safetensors(io_path);
  const tg::Tensor x = find(io, "x", io_path), want = find(io, "logits", io_path);
  const tg::Tensor got = net(x);
  if (got.shape() != want.shape()) {
    std::fprintf(stderr, "interop_model: logits have shape %s, PyTorch's %s\n", got.shape().str().c_str(),
                 want.shape().str().c_str());
    return 1;
  }
  const std::vector<double> g = got.to_vector<double>(), w = want.to_vector<double>();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]));
  std::printf("interop_model: max |tapegrad - torch| over %zu logits = %.3g (tolerance %.0e)\n", g.size(), worst,
              kTolerance);
  return worst <= kTolerance ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc == 3 || argc == 4 ? argv[1] : "";
  const std::string name = argc == 4 ? argv[3] : "cnn";
  if ((mode != "export" && mode != "import") || (name != "cnn" && name != "lstm")) {
    std::fprintf(stderr, "usage: interop_model export|import DIR [cnn|lstm]\n");
    return 2;
  }
  try {
    return mode == "export" ? export_model(argv[2], name) : import_model(argv[2], name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "interop_model: %s\n", e.what());
    return 1;
  }
}
