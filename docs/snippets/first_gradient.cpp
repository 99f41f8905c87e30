// f(x) = x^2 + 3x at x = 2: the tape records two ops, backward() gives df/dx = 2x + 3 = 7.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  tg::Tensor x = tg::tensor(2.0).requires_grad(true);  // a leaf we want the gradient of
  tg::Tensor f = x * x + 3.0 * x;                       // recorded on this thread's tape
  f.backward();                                         // replays the tape in reverse
  std::cout << "f(2)     = " << f.item() << "\n";
  std::cout << "df/dx(2) = " << x.grad().item() << "\n";

  // The same works for whole tensors: the gradient of sum(w * w) is 2w, elementwise.
  tg::Tensor w = tg::tensor({1.0, -2.0, 0.5}).requires_grad(true);
  tg::sum(w * w).backward();
  std::cout << w.grad() << "\n";
}
