// Where a compiled step could part from the eager function, it does not, or it says why: a step
// fed its own result, a second backward(), a call under NoGradGuard, a layer whose mode changed,
// a captured value read to the host, an eager graph that saved a result the next call rewrites.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <functional>
#include <vector>

namespace tg = tapegrad;

void print_error(const char* what, const std::function<void()>& f) {
  try {
    f();
    std::printf("%s: no error\n", what);
  } catch (const tg::Error& e) {
    std::printf("%s:\n  %s\n", what, e.what());
  }
}

int main() {
  // Power iteration, x = step({x}): the step reads a copy of an input that is its own result.
  const tg::Tensor a = tg::tensor({{2.0, 1.0}, {1.0, 3.0}});
  auto iterate = [&](const std::vector<tg::Tensor>& in) {
    const tg::Tensor y = tg::matmul(a, in[0]);
    return y / tg::norm(y);
  };
  tg::Tensor x = tg::tensor({{1.0}, {0.0}}), e = x;
  tg::Compiled step = tg::compile(iterate, {x});
  for (int i = 0; i < 3; ++i) {
    x = step({x});
    e = iterate({e});
    std::printf("power iteration %d: compiled (%.6f, %.6f), eager (%.6f, %.6f), bitwise equal: %s\n", i, x.at({0, 0}),
                x.at({1, 0}), e.at({0, 0}), e.at({1, 0}), x.to_vector<float>() == e.to_vector<float>() ? "yes" : "no");
  }

  // A second backward() needs retain_graph on the first, as eagerly.
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Compiled loss = tg::compile(
      [&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::square(in[0] * w)); }, {tg::tensor({1.0, 1.0})});
  tg::Tensor l = loss({tg::tensor({1.0, 1.0})});
  l.backward();
  print_error("second backward()", [&] { l.backward(); });

  // Under NoGradGuard the result needs no gradient, as eagerly.
  {
    tg::NoGradGuard no_grad;
    std::printf("under NoGradGuard the result requires gradients: %s\n",
                loss({tg::tensor({1.0, 1.0})}).requires_grad() ? "yes" : "no");
  }

  // A layer's mode is part of the step: Dropout compiled in eval mode is not replayed in training.
  tg::nn::Sequential net{tg::nn::Linear(2, 2), tg::nn::Dropout(0.5)};
  net.eval();
  tg::Compiled evaluate = tg::compile([&](const std::vector<tg::Tensor>& in) { return net(in[0]); }, {tg::ones({1, 2})});
  net.train();
  print_error("call after train()", [&] { evaluate({tg::ones({1, 2})}); });

  // A captured tensor read to the host would be frozen into the step: refused at compile time.
  tg::Tensor scale = tg::tensor({2.0});
  print_error("compile", [&] {
    tg::compile([&](const std::vector<tg::Tensor>& in) { return in[0] * scale.item(); }, {tg::ones({2})});
  });

  // An eager op that saved a result sees the next call as an in-place write.
  tg::Compiled features = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::tanh(tg::matmul(in[0], a)); },
                                      {tg::ones({1, 2})});
  tg::Tensor head = tg::tensor({{0.5}, {-0.5}}).requires_grad(true);
  tg::Tensor first = tg::sum(tg::matmul(features({tg::ones({1, 2})}), head));
  tg::Tensor second = tg::sum(tg::matmul(features({tg::zeros({1, 2})}), head));
  second.backward();
  print_error("backward() of the first batch", [&] { first.backward(); });
}
