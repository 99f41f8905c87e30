// Misusing backward() and grad().
#include <tapegrad/tapegrad.h>

#include <functional>
#include <iostream>

namespace tg = tapegrad;

void show(const std::function<void()>& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    std::cout << e.what() << "\n";
  }
}

int main() {
  show([] {
    tg::Tensor x = tg::tensor(2.0).requires_grad(true);
    tg::Tensor y = x * x;
    y.backward();
    y.backward();  // the first backward released the graph
  });
  show([] {
    tg::Tensor x = tg::tensor({1.0, 2.0}).requires_grad(true);
    (x * x).backward();  // a vector: which of its elements should be differentiated?
  });
  show([] {
    tg::Tensor x = tg::tensor(2.0);  // never marked
    (x * x).backward();
  });
  show([] { tg::tensor(2.0).grad(); });
  show([] {
    tg::Tensor x = tg::tensor(2.0).requires_grad(true);
    tg::Tensor y = x * x;
    y.grad();  // y is computed, not a leaf: backward() does not keep its gradient
  });
  show([] {
    tg::Tensor x = tg::tensor(2.0).requires_grad(true);
    (x * x).requires_grad(true);
  });
}
