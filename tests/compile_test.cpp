// Compiled steps: replay equals eager bit for bit (values, parameter and input gradients, user
// functions, a training loop), and every misuse is a tg::Error naming what went wrong.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {

// The message contains `part` (printed in full when it does not).
#define EXPECT_HAS(message, part)                                          \
  do {                                                                     \
    const std::string text_ = (message);                                   \
    EXPECT_NE(text_.find(part), std::string::npos) << "message: " << text_; \
  } while (0)

std::vector<double> values(const tg::Tensor& t) { return t.to_vector<double>(); }

// A small classifier and its loss on (x, labels as a float tensor).
struct Net {
  tg::nn::Sequential net{tg::nn::Linear(4, 8), tg::nn::Tanh(), tg::nn::Linear(8, 3)};
  tg::Tensor loss(const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(net(in[0]), in[1]); }
  std::vector<std::vector<double>> grads() {
    std::vector<std::vector<double>> g;
    for (const tg::Tensor& p : net.parameters()) g.push_back(values(p.grad()));
    return g;
  }
  void zero_grad() {
    for (tg::Tensor& p : net.parameters()) p.zero_grad();
  }
};

TEST(Compiled, ReplayEqualsEagerBitForBitAtNewInputs) {
  Net m;
  tg::Generator gen(5);
  tg::Tensor labels = tg::tensor({0.0, 2.0, 1.0, 1.0, 0.0});
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return m.loss(in); },
                                  {tg::randn({5, 4}, gen), labels});
  EXPECT_GT(step.ops(), 4u);
  EXPECT_GT(step.nodes(), 4u);
  for (int i = 0; i < 3; ++i) {
    tg::Tensor x = tg::randn({5, 4}, gen);
    tg::Tensor other_labels = tg::tensor({static_cast<double>(i), 1.0, 2.0, 0.0, 1.0});
    m.zero_grad();
    tg::Tensor replayed = step({x, other_labels});
    const double replayed_loss = replayed.item();
    replayed.backward();
    const auto g_replayed = m.grads();
    m.zero_grad();
    tg::Tensor eager = m.loss({x, other_labels});
    eager.backward();
    EXPECT_EQ(replayed_loss, eager.item()) << "step " << i;
    EXPECT_EQ(g_replayed, m.grads()) << "step " << i;
  }
}

TEST(Compiled, ParametersAreReadLiveSoOptimizerUpdatesAreSeen) {
  Net eager_net, compiled_net;
  compiled_net.net.load_state_dict(eager_net.net.state_dict());
  tg::optim::SGD eager_opt(eager_net.net.parameters(), {.lr = 0.1, .momentum = 0.9});
  tg::optim::SGD compiled_opt(compiled_net.net.parameters(), {.lr = 0.1, .momentum = 0.9});
  tg::Generator gen(8);
  tg::Tensor labels = tg::tensor({0.0, 2.0, 1.0, 1.0, 0.0});
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return compiled_net.loss(in); },
                                  {tg::randn({5, 4}, gen), labels});
  for (int i = 0; i < 5; ++i) {
    tg::Tensor x = tg::randn({5, 4}, gen);
    eager_opt.zero_grad();
    tg::Tensor le = eager_net.loss({x, labels});
    le.backward();
    eager_opt.step();
    compiled_opt.zero_grad();
    tg::Tensor lc = step({x, labels});
    EXPECT_EQ(le.item(), lc.item()) << "step " << i;
    lc.backward();
    compiled_opt.step();
  }
  const auto pe = eager_net.net.parameters(), pc = compiled_net.net.parameters();
  for (size_t k = 0; k < pe.size(); ++k) EXPECT_EQ(values(pe[k]), values(pc[k])) << "parameter " << k;
}

TEST(Compiled, InputsThatRequireGradientsReceiveThem) {
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::sin(in[0]) * in[1] + tg::exp(in[1])); };
  tg::Generator gen(2);
  tg::Compiled step = tg::compile(f, {tg::randn({3, 2}, gen).requires_grad(true), tg::randn({3, 2}, gen)});
  tg::Tensor a = tg::randn({3, 2}, gen).requires_grad(true), b = tg::randn({3, 2}, gen);
  step({a, b}).backward();
  tg::Tensor a2 = a.detach().requires_grad(true);
  f({a2, b}).backward();
  EXPECT_EQ(values(a.grad()), values(a2.grad()));
  EXPECT_FALSE(b.has_grad());
  // A second call with other tensors: the gradient goes to them, not to the first call's.
  tg::Tensor c = tg::randn({3, 2}, gen).requires_grad(true);
  step({c, b}).backward();
  EXPECT_TRUE(c.has_grad());
  EXPECT_EQ(values(a.grad()), values(a2.grad())) << "the first input's gradient is left alone";
}

TEST(Compiled, BackwardTwiceWithRetainGraphAccumulatesAsEagerly) {
  tg::Tensor w = tg::tensor({0.5, -1.5, 2.0}).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::square(w * in[0])); };
  tg::Tensor x = tg::tensor({1.0, 2.0, 3.0});
  tg::Compiled step = tg::compile(f, {x});
  tg::Tensor l = step({x});
  l.backward({.retain_graph = true});
  l.backward();
  const auto twice = values(w.grad());
  w.zero_grad();
  tg::Tensor e = f({x});
  e.backward({.retain_graph = true});
  e.backward();
  EXPECT_EQ(twice, values(w.grad()));
}

TEST(Compiled, UserFunctionsReplay) {
  tg::Function cube("cube", [](const std::vector<tg::Tensor>& in) { return in[0] * in[0] * in[0]; },
                    [](const tg::FunctionContext& c) {
                      return std::vector<tg::Tensor>{c.grad_output * 3.0 * tg::square(c.inputs[0])};
                    });
  tg::Tensor w = tg::tensor({0.3, -0.7}).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(cube({in[0] * w})); };
  tg::Compiled step = tg::compile(f, {tg::tensor({1.0, 1.0})});
  EXPECT_EQ(step.ops(), 3u) << "mul, the function (its inner ops replay inside it), sum";
  tg::Tensor x = tg::tensor({2.0, -3.0});
  tg::Tensor l = step({x});
  const double lv = l.item();
  l.backward();
  const auto g = values(w.grad());
  w.zero_grad();
  tg::Tensor e = f({x});
  e.backward();
  EXPECT_EQ(lv, e.item());
  EXPECT_EQ(g, values(w.grad()));
}

TEST(Compiled, StoredIntermediatesAreSlotsOverwrittenByEachReplay) {
  tg::Tensor w = tg::tensor({2.0, 3.0}).requires_grad(true);
  tg::Tensor kept;
  tg::Compiled step = tg::compile(
      [&](const std::vector<tg::Tensor>& in) {
        kept = in[0] * w;
        return tg::sum(kept);
      },
      {tg::tensor({1.0, 1.0})});
  step({tg::tensor({5.0, 7.0})});
  EXPECT_EQ(values(kept), (std::vector<double>{10.0, 21.0}));
  tg::Tensor copy = kept.detach().clone();
  EXPECT_HAS(message_of([&] { (void)(kept * 2.0); }), "is a compiled step's result");
  step({tg::tensor({1.0, 0.0})});
  EXPECT_EQ(values(kept), (std::vector<double>{2.0, 0.0}));
  EXPECT_EQ(values(copy), (std::vector<double>{10.0, 21.0}));
}

TEST(Compiled, OpsOnDataAloneReplayToo) {
  // Nothing on the labels' path requires gradients, so eager records no node for it; the step
  // must still recompute it from each call's labels.
  tg::Tensor w = tg::tensor({1.0, 2.0, 3.0}).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(w * (in[0] * 2.0 + 1.0)); };
  tg::Compiled step = tg::compile(f, {tg::tensor({0.0, 0.0, 0.0})});
  EXPECT_EQ(step({tg::tensor({1.0, 1.0, 1.0})}).item(), 18.0);
  EXPECT_LT(step.nodes(), step.ops());
}

TEST(Compiled, DetachedValuesFollowTheReplay) {
  // detach() inside the function is replayed too: its view is made again from the new values (a
  // frozen copy would make the constant term wrong at every other input).
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) {
    tg::Tensor y = in[0] * w;
    return tg::sum(y * y.detach());
  };
  tg::Compiled step = tg::compile(f, {tg::tensor({1.0, 1.0})});
  tg::Tensor x = tg::tensor({3.0, -2.0});
  tg::Tensor l = step({x});
  l.backward();
  EXPECT_EQ(l.item(), 25.0);  // 3^2 + 4^2
  EXPECT_EQ(values(w.grad()), (std::vector<double>{9.0, 8.0}));  // d/dw of (x w) c with c = x w held: x c
}

TEST(Compiled, FloatAndDoubleStepsBothReplay) {
  for (tg::Dtype dt : {tg::Dtype::f32, tg::Dtype::f64}) {
    tg::Generator gen(4);
    tg::Tensor w = tg::randn({3, 3}, gen, dt).requires_grad(true);
    auto f = [&](const std::vector<tg::Tensor>& in) { return tg::mean(tg::relu(tg::matmul(in[0], w))); };
    tg::Compiled step = tg::compile(f, {tg::randn({2, 3}, gen, dt)});
    tg::Tensor x = tg::randn({2, 3}, gen, dt);
    tg::Tensor l = step({x});
    l.backward();
    const auto g = values(w.grad());
    w.zero_grad();
    tg::Tensor e = f({x});
    e.backward();
    EXPECT_EQ(l.item(), e.item()) << tg::dtype_name(dt);
    EXPECT_EQ(g, values(w.grad())) << tg::dtype_name(dt);
  }
}

TEST(Compiled, CacheCompilesOncePerShape) {
  tg::Tensor w = tg::tensor({1.0, -1.0}).to(tg::Dtype::f64).requires_grad(true);
  tg::CompiledCache cache([&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::matmul(in[0], w)); });
  tg::Generator gen(1);
  for (int i = 0; i < 3; ++i) {
    cache({tg::randn({4, 2}, gen, tg::Dtype::f64)});
    cache({tg::randn({1, 2}, gen, tg::Dtype::f64)});
  }
  EXPECT_EQ(cache.compilations(), 2u);
  EXPECT_EQ(cache.size(), 2u);
  tg::Tensor x = tg::randn({3, 2}, gen, tg::Dtype::f64);
  EXPECT_EQ(cache({x}).item(), tg::sum(tg::matmul(x, w)).item());
}

// ---- misuse ----

TEST(CompiledErrors, AnotherShapeOrDtypeNamesTheInputAndBothShapes) {
  tg::Tensor w = tg::tensor({1.0, 2.0, 3.0, 4.0}).requires_grad(true);
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[1] * w) + in[0]; },
                                  {tg::tensor({1.0}), tg::zeros({2, 4})});
  std::string m = message_of([&] { step({tg::tensor({1.0}), tg::zeros({3, 4})}); });
  EXPECT_HAS(m, "input 1");
  EXPECT_HAS(m, "[3, 4]");
  EXPECT_HAS(m, "[2, 4]");
  m = message_of([&] { step({tg::tensor({1.0}), tg::zeros({2, 4}, tg::Dtype::f64)}); });
  EXPECT_HAS(m, "input 1");
  EXPECT_HAS(m, "float64");
  EXPECT_HAS(message_of([&] { step({tg::tensor({1.0})}); }), "given 1 inputs, compiled for 2");
  EXPECT_HAS(message_of([&] { step({tg::tensor({1.0}).requires_grad(true), tg::zeros({2, 4})}); }), "requiring gradients");
  EXPECT_HAS(message_of([] { tg::Compiled empty; empty({}); }), "empty");
}

TEST(CompiledErrors, HostReadsWhileCompilingNameTheRead) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  auto branchy = [&](const std::vector<tg::Tensor>& in) {
    tg::Tensor s = tg::sum(in[0] * w);
    return s.item() > 0 ? s : -s;  // control flow on a value: not capturable
  };
  EXPECT_HAS(message_of([&] { tg::compile(branchy, {tg::tensor({1.0, 1.0})}); }), "item: reads");
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { (void)(in[0] * w).at({1}); return tg::sum(in[0]); },
                            {tg::tensor({1.0, 1.0})});
              }), "at: reads");
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { (void)in[0].to_vector<float>(); return tg::sum(in[0]); },
                            {tg::tensor({1.0, 1.0})});
              }), "to_vector: reads");
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) {
                  tg::Tensor y = in[0] * 2.0;
                  (void)y.data<float>();
                  return tg::sum(y);
                }, {tg::tensor({1.0, 1.0})});
              }), "data: reads");
  // Reading a captured parameter would freeze its value into the step (issue 26, item 2).
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { (void)w.at({0}); return tg::sum(in[0] * w); },
                            {tg::tensor({1.0, 1.0})});
              }), "at: reads the values of a [2] tensor the function captures");
  // The option lets a branch-free function read (here a value only logged).
  tg::Compiled step = tg::compile(branchy, {tg::tensor({1.0, 1.0})}, {.allow_host_reads = true});
  EXPECT_EQ(step({tg::tensor({2.0, 2.0})}).item(), 6.0);
  // Every read is allowed again once compile() returned (the step's slots are ordinary tensors).
  EXPECT_NO_THROW(step({tg::tensor({2.0, 2.0})}).to_vector<double>());
}

TEST(CompiledErrors, InPlaceWritesAndRandomDrawsWhileCompilingAreErrors) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Tensor buffer = tg::zeros({2});
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { buffer.add_(in[0]); return tg::sum(in[0] * w); },
                            {tg::tensor({1.0, 1.0})});
              }), "add_: an in-place write");
  tg::Generator gen(1);
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * tg::randn({2}, gen)); },
                            {tg::tensor({1.0, 1.0})});
              }), "randn: random numbers");
  tg::nn::Dropout dropout(0.5);
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(dropout(in[0])); },
                            {tg::tensor({1.0, 1.0})});
              }), "Dropout(p=0.5): in training mode");
  dropout.eval();  // the identity: compiles
  EXPECT_NO_THROW(tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(dropout(in[0]) * w); },
                              {tg::tensor({1.0, 1.0})}));
  // After a failed compile, the thread records and checks as before.
  EXPECT_FALSE(tg::is_compiling());
  EXPECT_NO_THROW(buffer.add_(tg::ones({2})));
  tg::Tensor y = tg::sum(w * 2.0);
  y.backward();
  EXPECT_EQ(values(w.grad()), (std::vector<double>{2.0, 2.0}));
}

TEST(CompiledErrors, ResultsAndInputsThatCannotBeReplayed) {
  tg::Tensor c = tg::tensor({1.0});
  EXPECT_HAS(message_of([&] { tg::compile([&](const std::vector<tg::Tensor>&) { return c; }, {tg::tensor({1.0})}); }), "no op computed");
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return in[0]; }, {tg::tensor({1.0})});
              }), "no op computed");
  tg::Tensor x = tg::tensor({1.0, 2.0});
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] + in[1]); }, {x, x});
              }), "the same tensor");
  tg::Tensor w = tg::tensor({1.0}).requires_grad(true);
  tg::Tensor recorded = w * 2.0;
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * 2.0); }, {recorded});
              }), "is the result of a recorded op");
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) {
                  tg::Tensor l = tg::sum(in[0] * w);
                  l.backward();
                  return l;
                }, {tg::tensor({1.0})});
              }), "backward: called while compile() records");
}

TEST(CompiledErrors, HigherDerivativesThroughAStepAreRefused) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::square(in[0] * w)); },
                                  {tg::tensor({1.0, 1.0})});
  tg::Tensor l = step({tg::tensor({1.0, 1.0})});
  EXPECT_HAS(message_of([&] { l.backward({.create_graph = true}); }), "create_graph through a compiled step");
}

TEST(CompiledErrors, AResultKeptPastTheStepIsReleasedNotDangling) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Tensor kept;
  {
    tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * w); },
                                    {tg::tensor({1.0, 1.0})});
    kept = step({tg::tensor({3.0, 4.0})});
  }
  EXPECT_EQ(kept.item(), 11.0);
  EXPECT_HAS(message_of([&] { kept.backward(); }), "released");
}

}  // namespace

// backward() on a compiled step's result runs the backward pass traced at compile time, as
// instructions of the step (every gradient is an op's result), and adds each leaf's gradient
// into its grad(): bitwise the eager gradients, at new inputs, for inputs and captured tensors.
TEST(Compiled, BackwardIsPartOfTheStepAndGivesTheEagerGradients) {
  tg::Generator gen(8);
  tg::Tensor w = tg::randn({4, 3}, gen).requires_grad(true), b = tg::randn({3}, gen).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) {
    return tg::sum(tg::sigmoid(tg::add(tg::matmul(in[0], w), b)) * tg::max(in[0], 1, true));
  };
  tg::Compiled step = tg::compile(f, {tg::randn({5, 4}, gen).requires_grad(true)});
  EXPECT_GT(step.backward_ops(), step.ops());  // matmul alone has two products in its backward
  for (int call = 0; call < 3; ++call) {
    tg::Tensor x = tg::randn({5, 4}, gen).requires_grad(true), xe = x.detach().clone().requires_grad(true);
    w.set_grad(tg::Tensor());
    b.set_grad(tg::Tensor());
    step({x}).backward();
    const std::vector<double> gw = w.grad().to_vector<double>(), gb = b.grad().to_vector<double>();
    w.set_grad(tg::Tensor());
    b.set_grad(tg::Tensor());
    f({xe}).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), xe.grad().to_vector<double>());
    EXPECT_EQ(gw, w.grad().to_vector<double>());
    EXPECT_EQ(gb, b.grad().to_vector<double>());
  }
}

// A value the traced backward reads, changed in place after the call, is not silently used: the
// step leaves backward() to the tape, which names the write (as eagerly).
TEST(Compiled, AValueChangedInPlaceAfterTheCallIsStillRefusedByBackward) {
  tg::Generator gen(9);
  tg::Tensor w = tg::randn({3, 2}, gen).requires_grad(true);
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::tanh(tg::matmul(in[0], w))); },
                                  {tg::randn({4, 3}, gen)});
  ASSERT_GT(step.backward_ops(), 0u);
  tg::Tensor loss = step({tg::randn({4, 3}, gen)});
  {
    tg::NoGradGuard no_grad;
    w.mul_(2.0);
  }
  EXPECT_NE(message_of([&] { loss.backward(); }).find("modified in place"), std::string::npos);
}

// The values a step writes live in one planned arena: the forward's for the whole call (the
// nodes saved them), each gradient only until its last reader ran, so the backward's gradients
// share memory. 20 tanh on 64 floats: 20 forward values of 256 bytes, 20 gradients reusing a few.
TEST(Compiled, GradientsShareThePlannedArenaByLiveness) {
  auto f = [](const std::vector<tg::Tensor>& in) {
    tg::Tensor y = in[0];
    for (int i = 0; i < 20; ++i) y = tg::tanh(y);
    return tg::sum(y);
  };
  tg::Generator gen(2);
  tg::Compiled step = tg::compile(f, {tg::randn({64}, gen).requires_grad(true)});
  ASSERT_EQ(step.backward_ops(), 21u);  // sum's backward, then 20 tanh_backward
  EXPECT_GE(step.arena_bytes(), 20u * 256);
  EXPECT_LT(step.arena_bytes(), 26u * 256);
  for (int call = 0; call < 2; ++call) {  // and the values stay right
    tg::Tensor x = tg::randn({64}, gen).requires_grad(true), xe = x.detach().clone().requires_grad(true);
    tg::Tensor l = step({x}), le = f({xe});
    l.backward();
    le.backward();
    EXPECT_EQ(l.item(), le.item());
    EXPECT_EQ(x.grad().to_vector<double>(), xe.grad().to_vector<double>());
  }
}

// A run of elementwise instructions over one size (a bias row, the activations, their
// gradients) runs block by block, and gives the unfused values bit for bit: in both dtypes, at a
// size that leaves a partial last block, and with fusion turned off for comparison.
TEST(Compiled, FusedElementwiseRunsGiveTheEagerValuesBitForBit) {
  for (tg::Dtype d : {tg::Dtype::f32, tg::Dtype::f64}) {
    tg::Generator gen(8);
    tg::Tensor bias = tg::randn({129}, gen, d).requires_grad(true);
    auto f = [&](const std::vector<tg::Tensor>& in) {
      tg::Tensor h = tg::sigmoid(in[0] * 1.5 + bias);
      tg::Tensor y = tg::tanh(h) * h - 0.25;
      tg::Tensor z = tg::relu(y) + tg::exp(h * 0.1);
      return tg::sum(z * z);
    };
    tg::Compiled fused = tg::compile(f, {tg::randn({37, 129}, gen, d).requires_grad(true)});
    tg::Compiled plain = tg::compile(f, {tg::randn({37, 129}, gen, d).requires_grad(true)}, {.fuse_block_bytes = 0});
    const std::string listing = fused.program();
    EXPECT_HAS(listing, "fused ");
    EXPECT_EQ(plain.program().find("fused "), std::string::npos);
    // Forward and backward runs are both fused (the program lists the backward after the forward).
    EXPECT_NE(listing.find("fused ", listing.find(" backward ")), std::string::npos) << listing;
    for (int call = 0; call < 2; ++call) {
      const tg::Tensor x = tg::randn({37, 129}, gen, d);
      std::vector<std::vector<double>> outs, grads, bias_grads;
      for (int way = 0; way < 3; ++way) {
        tg::Tensor xi = x.clone().requires_grad(true);
        bias.zero_grad();
        tg::Tensor l = way == 0 ? fused({xi}) : way == 1 ? plain({xi}) : f({xi});
        l.backward();
        outs.push_back(values(l));
        grads.push_back(values(xi.grad()));
        bias_grads.push_back(values(bias.grad()));
      }
      for (int way = 0; way < 2; ++way) {
        EXPECT_EQ(outs[way], outs[2]) << tg::dtype_name(d) << " call " << call << " way " << way;
        EXPECT_EQ(grads[way], grads[2]) << tg::dtype_name(d) << " call " << call << " way " << way;
        EXPECT_EQ(bias_grads[way], bias_grads[2]) << tg::dtype_name(d) << " call " << call << " way " << way;
      }
    }
  }
}

// A result of a fused run whose buffer a tensor outside the program shares (a view of it, kept)
// is not written in place: the run then goes unfused, through the ops, which give the new result
// a new buffer. (The result itself is the program's slot, rewritten by each call.)
TEST(Compiled, AFusedRunWhoseResultIsHeldKeepsTheHeldValues) {
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::tanh(tg::sigmoid(in[0]) * 2.0); };
  tg::Generator gen(4);
  tg::Compiled step = tg::compile(f, {tg::randn({3000}, gen)});
  EXPECT_HAS(step.program(), "fused ");
  const tg::Tensor x1 = tg::randn({3000}, gen), x2 = tg::randn({3000}, gen);
  const tg::Tensor r1 = step({x1}).detach();
  const tg::Tensor r2 = step({x2}).detach();
  EXPECT_EQ(values(r1), values(f({x1})));
  EXPECT_EQ(values(r2), values(f({x2})));
}

// A fused run of elementwise kernels over a large tensor shares its blocks out over two threads:
// the replay is the same bits as the eager call on one thread.
TEST(Compile, AFusedRunOnTwoThreadsGivesTheOneThreadBits) {
  tg::Generator gen(44);
  const tg::Tensor x = tg::randn({300000}, gen);
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::relu(tg::tanh(in[0] * 1.5) + 0.25) * in[0]; };
  const tg::Tensor eager = f({x});
  tg::set_num_threads(2);
  tg::Compiled step = tg::compile(f, {x});
  const tg::Tensor replayed = step({x});
  tg::set_num_threads(1);
  EXPECT_TRUE(eager.to_vector<float>() == replayed.to_vector<float>());
  EXPECT_NE(step.program().find("in blocks of"), std::string::npos) << "the run was not fused: " << step.program();
}
