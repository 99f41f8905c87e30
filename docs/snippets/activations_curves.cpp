// Evaluates each activation and its derivative, as the library's own backward computes it, on a
// grid. Prints a few points; with a directory argument it also writes the whole grid there as
// activations.dat, which tools/docs/make_images.sh plots into docs/images/activation_*.png.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace tg = tapegrad;

// The perceptron's step: 1 for x > 0, else 0. Its derivative is 0 wherever it exists.
const tg::Function step(
    "step", [](const std::vector<tg::Tensor>& in) { return tg::greater(in[0], 0.0); },
    [](const tg::FunctionContext& c) { return std::vector<tg::Tensor>{tg::zeros_like(c.inputs[0])}; });

// Softmax over four logits [x, 1, 0, -1] as the first one varies, read at class 0; the other
// classes' probabilities go into the data file beside it, so the plot shows them give way.
tg::Tensor softmax_probs(const tg::Tensor& x) {
  const tg::Tensor first = tg::tensor({{1.0, 0.0, 0.0, 0.0}}, tg::Dtype::f64);
  const tg::Tensor rest = tg::tensor({0.0, 1.0, 0.0, -1.0}, tg::Dtype::f64);
  return tg::softmax(tg::matmul(tg::reshape(x, {-1, 1}), first) + rest, 1);
}
tg::Tensor softmax_first(const tg::Tensor& x) {
  return tg::sum(softmax_probs(x) * tg::tensor({1.0, 0.0, 0.0, 0.0}, tg::Dtype::f64), 1);
}

int main(int argc, char** argv) {
  std::vector<std::pair<std::string, std::function<tg::Tensor(const tg::Tensor&)>>> activations{
      {"step", [](const tg::Tensor& x) { return step({x}); }},
      {"sigmoid", [](const tg::Tensor& x) { return tg::sigmoid(x); }},
      {"tanh", [](const tg::Tensor& x) { return tg::tanh(x); }},
      {"relu", [](const tg::Tensor& x) { return tg::relu(x); }},
      {"leaky_relu", [](const tg::Tensor& x) { return tg::leaky_relu(x, 0.1); }},
      {"softmax", softmax_first},
  };
  std::vector<double> grid;
  for (int i = 0; i <= 400; ++i) grid.push_back(-5.0 + i * 0.025);

  std::vector<std::vector<double>> columns{grid};
  for (auto& [name, f] : activations) {
    tg::Tensor x = tg::from_vector(grid, {static_cast<int64_t>(grid.size())}, tg::Dtype::f64).requires_grad(true);
    tg::Tensor y = f(x);
    tg::sum(y).backward();  // elementwise: d sum(y) / dx_i = f'(x_i)
    columns.push_back(y.to_vector<double>());
    columns.push_back(x.grad().to_vector<double>());
    std::printf("%-10s", name.c_str());
    for (int i : {120, 200, 280})  // x = -2, 0, 2
      std::printf("  f(%+g) = %.4f, f' = %.4f", grid[i], columns[columns.size() - 2][i], columns.back()[i]);
    std::printf("\n");
  }
  {
    tg::NoGradGuard no_grad;
    const tg::Tensor probs = softmax_probs(tg::from_vector(grid, {static_cast<int64_t>(grid.size())}, tg::Dtype::f64));
    for (int64_t k = 1; k < 4; ++k) {
      std::vector<double> col;
      for (size_t i = 0; i < grid.size(); ++i) col.push_back(probs.at({static_cast<int64_t>(i), k}));
      columns.push_back(col);
    }
  }
  if (argc > 1) {
    std::ofstream out(std::string(argv[1]) + "/activations.dat");
    out << "# x";
    for (auto& a : activations) out << " " << a.first << " d_" << a.first;
    out << " softmax_1 softmax_2 softmax_3\n";
    for (size_t i = 0; i < grid.size(); ++i) {
      for (auto& col : columns) out << col[i] << " ";
      out << "\n";
    }
  }
}
