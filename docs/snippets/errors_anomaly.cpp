// Anomaly mode: the first NaN or infinity, forward or backward, stops the run and names the op.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  tg::Tensor x = tg::tensor({0.0, 4.0}).requires_grad(true);
  // Without anomaly mode the infinity travels on silently.
  tg::sum(tg::sqrt(x)).backward();
  std::cout << "gradient " << x.grad() << "\n";

  tg::AnomalyGuard anomaly;  // costs a scan of every output and gradient: for debugging
  try {
    tg::sum(tg::sqrt(x)).backward();
  } catch (const tg::Error& e) {
    std::cout << e.what() << "\n";
    tg::Tape::current().clear();
  }
  try {
    tg::sum(tg::log(x)).backward();
  } catch (const tg::Error& e) {
    std::cout << e.what() << "\n";
    tg::Tape::current().clear();
  }
}
