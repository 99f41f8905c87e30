// When nodes are recorded, when they are released, and what retain_graph and NoGradGuard change.
#include <tapegrad/tapegrad.h>

#include <iostream>

namespace tg = tapegrad;

int main() {
  tg::Tape& tape = tg::Tape::current();  // this thread's tape
  tg::Tensor x = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Tensor c = tg::tensor({5.0, 5.0});  // requires no gradient

  tg::Tensor k = c * 2.0;                // no input requires a gradient: nothing recorded
  std::cout << "after c * 2:        " << tape.live_nodes() << " nodes\n";
  tg::Tensor y = tg::sum(tg::exp(x) * k);  // exp, mul, sum: three nodes
  std::cout << "after the forward:  " << tape.live_nodes() << " nodes\n";

  y.backward({.retain_graph = true});    // keep the nodes: we want a second backward
  std::cout << "after backward (retain_graph): " << tape.live_nodes() << " nodes, grad " << x.grad() << "\n";
  y.backward();                          // the second backward adds to x.grad(), then frees the nodes
  std::cout << "after backward:     " << tape.live_nodes() << " nodes, grad " << x.grad() << "\n";

  {
    tg::NoGradGuard no_grad;             // evaluation and parameter updates: record nothing
    tg::Tensor z = tg::exp(x) * 2.0;
    std::cout << "under NoGradGuard:  " << tape.live_nodes() << " nodes, z.requires_grad() = "
              << z.requires_grad() << "\n";
  }
  tape.shrink();      // hand the now-unused node slots back to the system
  tg::empty_cache();  // and this thread's cached tensor blocks
}
