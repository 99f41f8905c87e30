// Shape, broadcast, dtype and axis errors: tg::Error names the op, the shapes and the dtypes.
#include <tapegrad/tapegrad.h>

#include <functional>
#include <iostream>

namespace tg = tapegrad;

void show(const std::function<void()>& f) {
  try {
    f();
  } catch (const tg::Error& e) {  // derives from std::runtime_error
    std::cout << e.what() << "\n";
  }
}

int main() {
  show([] { tg::matmul(tg::zeros({2, 3}), tg::zeros({4, 5})); });
  show([] { tg::matmul(tg::zeros({3}), tg::zeros({3})); });
  show([] { tg::add(tg::zeros({2, 3}), tg::zeros({4})); });
  show([] { tg::mul(tg::zeros({2}), tg::zeros({2}, tg::Dtype::f64)); });
  show([] { tg::sum(tg::zeros({2, 3}), 2); });
  show([] { tg::reshape(tg::zeros({2, 3}), {4, 2}); });
  show([] { tg::softmax_cross_entropy(tg::zeros({100, 10}), std::vector<int64_t>(99, 0)); });
  show([] { tg::nn::Linear(3, 2)(tg::zeros({4, 5})); });
  show([] {
    tg::nn::Sequential net{tg::nn::Linear(3, 2), tg::nn::ReLU(), tg::nn::Linear(3, 1)};
    net(tg::zeros({4, 3}));
  });
}
