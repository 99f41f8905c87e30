// A PyTorch training step, line by line in tapegrad (the PyTorch line is in the comment).
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

int main() {
  nn::manual_seed(0);                                         // torch.manual_seed(0)
  nn::Sequential model{nn::Linear(4, 8), nn::ReLU(), nn::Linear(8, 3)};  // nn.Sequential(...)
  tg::optim::Adam opt(model.parameters(), {.lr = 1e-2});      // optim.Adam(model.parameters(), lr=1e-2)
  nn::CrossEntropyLoss criterion;                             // nn.CrossEntropyLoss()

  tg::Generator gen(1);
  tg::Tensor x = tg::randn({5, 4}, gen);                      // torch.randn(5, 4)
  std::vector<int64_t> y{0, 2, 1, 1, 0};                      // torch.tensor([0, 2, 1, 1, 0])

  tg::Tensor loss = criterion(model(x), y);                   // loss = criterion(model(x), y)
  opt.zero_grad();                                            // opt.zero_grad()
  loss.backward();                                            // loss.backward()
  opt.step();                                                 // opt.step()

  // nn.Linear keeps weight as {out, in} and computes x W^T; tapegrad keeps {in, out} and
  // computes x W. A weight copied from PyTorch must be transposed.
  auto& first = model.get<nn::Linear>(0);
  std::cout << "weight " << first.weight().shape() << ", bias " << first.bias().shape() << "\n";
  tg::Tensor torch_weight = tg::zeros({8, 4});                // as PyTorch stores it
  first.weight().copy_(tg::transpose(torch_weight));          // ... into tapegrad's layout

  {
    tg::NoGradGuard no_grad;                                  // with torch.no_grad():
    std::cout << "eval output " << model(x).shape() << "\n";
  }
  std::cout << "gradients are leaves' only: " << first.weight().grad().shape() << "\n";
}
