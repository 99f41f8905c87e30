// Softmax followed by cross-entropy: the gradient with respect to the logits is y - t.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  auto d = tg::Dtype::f64;
  tg::Tensor z = tg::tensor({{2.0, 1.0, 0.1}}, d).requires_grad(true);  // logits of 3 classes
  tg::Tensor t = tg::one_hot({0}, 3, d);                                  // the answer is class 0

  // Written out: E = -sum(t * log(softmax(z))), through three recorded ops.
  tg::Tensor y = tg::softmax(z, 1);
  tg::Tensor E = -tg::sum(t * tg::log(y));
  E.backward();
  std::cout << "y = softmax(z) = " << y << "\n";
  std::cout << "E              = " << E.item() << "\n";
  std::cout << "dE/dz          = " << z.grad() << "\n";
  std::cout << "y - t          = " << y - t << "\n";

  // The fused op computes the same loss from log-softmax (no log(0)) as one node whose backward
  // is (softmax(z) - t) / batch. Use it, or nn::CrossEntropyLoss, in real models.
  tg::Tensor z2 = tg::tensor({{2.0, 1.0, 0.1}}, d).requires_grad(true);
  tg::Tensor E2 = tg::softmax_cross_entropy(z2, std::vector<int64_t>{0});
  E2.backward();
  std::cout << "fused: E = " << E2.item() << ", dE/dz = " << z2.grad() << "\n";
}
