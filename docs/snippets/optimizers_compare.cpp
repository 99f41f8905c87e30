// Trains the same 2-16-2 network from the same initial weights with each optimizer in tg::optim,
// full batch, 300 steps, on two interleaved half-moons. Prints the loss every 100 steps; with a
// directory argument also writes every step's loss to optimizers.dat (plotted by
// tools/docs/make_images.sh into docs/images/optimizers.png).
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace optim = tapegrad::optim;

using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<tg::Tensor>)>;

int main(int argc, char** argv) {
  // Two half-moons with a little noise: 200 points, labels 0 and 1.
  tg::Generator gen(3);
  std::vector<double> xy;
  std::vector<int64_t> labels;
  for (int i = 0; i < 200; ++i) {
    int c = i % 2;
    double a = 3.14159265358979 * gen.uniform();
    xy.push_back((c ? 1.0 - std::cos(a) : std::cos(a)) + 0.1 * gen.normal());
    xy.push_back((c ? 0.5 - std::sin(a) : std::sin(a)) + 0.1 * gen.normal());
    labels.push_back(c);
  }
  tg::Tensor X = tg::from_vector(xy, {200, 2});

  std::vector<std::pair<std::string, MakeOptimizer>> optimizers{
      {"SGD", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1}); }},
      {"Momentum", [](auto p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9}); }},
      {"Nesterov", [](auto p) {
         return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
       }},
      {"Adagrad", [](auto p) { return std::make_unique<optim::Adagrad>(p, optim::AdagradOptions{.lr = 0.1}); }},
      {"RMSprop", [](auto p) { return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions{.lr = 0.01}); }},
      {"Adam", [](auto p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.01}); }},
      {"AdamW", [](auto p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.01}); }},
  };
  const int steps = 300;
  std::vector<std::vector<double>> curves;
  for (auto& [name, make] : optimizers) {
    nn::manual_seed(0);  // the same initial weights for every optimizer
    nn::Sequential net{nn::Linear(2, 16), nn::Tanh(), nn::Linear(16, 2)};
    std::unique_ptr<optim::Optimizer> opt = make(net.parameters());
    std::vector<double> curve;
    for (int s = 0; s < steps; ++s) {
      tg::Tensor loss = tg::softmax_cross_entropy(net(X), labels);
      curve.push_back(loss.item());
      opt->zero_grad();
      loss.backward();
      opt->step();
    }
    std::printf("%-9s loss at step 0, 100, 200, 299: %.4f %.4f %.4f %.4f\n", name.c_str(), curve[0], curve[100],
                curve[200], curve[299]);
    curves.push_back(curve);
  }
  if (argc > 1) {
    std::ofstream out(std::string(argv[1]) + "/optimizers.dat");
    out << "step";  // a header row: gnuplot names the curves from it
    for (auto& o : optimizers) out << " " << o.first;
    out << "\n";
    for (int s = 0; s < steps; ++s) {
      out << s;
      for (auto& c : curves) out << " " << c[s];
      out << "\n";
    }
  }
}
