// Compiled steps never differ silently from eager calls: an input that is one of the step's own
// results, a host read of a captured tensor, a captured tensor whose requires_grad or a layer
// whose mode changed, an eager node that saved a slot the next call rewrites, gradcheck through
// a step, a second backward() and NoGradGuard are each correct or a tg::Error saying why.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {

#define EXPECT_HAS(message, part)                                          \
  do {                                                                     \
    const std::string text_ = (message);                                   \
    EXPECT_NE(text_.find(part), std::string::npos) << "message: " << text_; \
  } while (0)
#define EXPECT_LACKS(message, part)                                        \
  do {                                                                     \
    const std::string text_ = (message);                                   \
    EXPECT_EQ(text_.find(part), std::string::npos) << "message: " << text_; \
  } while (0)

std::vector<double> values(const tg::Tensor& t) { return t.to_vector<double>(); }
using Fn = std::function<tg::Tensor(const std::vector<tg::Tensor>&)>;

// ---- 1: an input that is one of the step's own slots ----

// x = step({x}), five times, against the same map run eagerly, for several maps whose op reads
// its input while writing its result (matmul, transpose) or reads it after an earlier op wrote.
TEST(CompiledTrust, IteratedMapFedItsOwnResultEqualsEager) {
  tg::Generator gen(3);
  const tg::Tensor a = tg::randn({3, 3}, gen, tg::Dtype::f64);
  const std::vector<std::pair<const char*, Fn>> maps = {
      {"matmul by a captured matrix", [&](const std::vector<tg::Tensor>& in) { return tg::matmul(in[0], a); }},
      {"captured matrix times the input", [&](const std::vector<tg::Tensor>& in) { return tg::matmul(a, in[0]); }},
      {"transpose", [](const std::vector<tg::Tensor>& in) { return tg::transpose(in[0]); }},
      {"transpose, then elementwise", [](const std::vector<tg::Tensor>& in) { return tg::transpose(in[0]) * 0.5 + 1.0; }},
      {"a recurrence reading the input twice",
       [&](const std::vector<tg::Tensor>& in) { return tg::tanh(tg::matmul(in[0], a)) + in[0] * 0.25; }},
  };
  for (const auto& [name, f] : maps) {
    const tg::Tensor start = tg::randn({3, 3}, gen, tg::Dtype::f64);
    tg::Compiled step = tg::compile(f, {start});
    tg::Tensor x = start, e = start;
    for (int i = 0; i < 5; ++i) {
      x = step({x});
      e = f({e});
      ASSERT_EQ(values(x), values(e)) << name << ", iteration " << i;
    }
  }
}

TEST(CompiledTrust, AStoredIntermediateFedBackAsInputEqualsEager) {
  tg::Tensor kept;
  auto f = [&](const std::vector<tg::Tensor>& in) {
    kept = tg::exp(in[0] * 0.5);
    return tg::sum(kept * in[0]);
  };
  tg::Compiled step = tg::compile(f, {tg::tensor({0.1, 0.2, 0.3})});
  step({tg::tensor({1.0, -1.0, 2.0})});
  const tg::Tensor input = kept.detach().clone();
  const double replayed = step({kept}).item();  // kept is the slot the first op rewrites
  EXPECT_EQ(replayed, tg::sum(tg::exp(input * 0.5) * input).item());
}

TEST(CompiledTrust, AnIteratedMapWithALearnedMatrixGivesEagerGradients) {
  tg::Generator gen(4);
  tg::Tensor w = tg::randn({3, 3}, gen, tg::Dtype::f64).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::tanh(tg::matmul(in[0], w)); };
  tg::Tensor x = tg::randn({2, 3}, gen, tg::Dtype::f64), e = x;
  tg::Compiled step = tg::compile(f, {x});
  tg::Tensor upstream = tg::ones({2, 3}, tg::Dtype::f64);
  for (int i = 0; i < 3; ++i) {
    w.zero_grad();
    tg::Tensor r = step({x});
    r.backward(upstream);
    const auto g = values(w.grad());
    w.zero_grad();
    tg::Tensor re = f({e});
    re.backward(upstream);
    EXPECT_EQ(values(r), values(re)) << "iteration " << i;
    EXPECT_EQ(g, values(w.grad())) << "iteration " << i;
    x = r.detach();  // shares the slot's buffer
    e = re.detach();
  }
}

// ---- 2: host reads of captured tensors ----

TEST(CompiledTrust, HostReadsOfCapturedTensorsAreErrorsNotFrozenValues) {
  tg::Tensor scale = tg::tensor({2.0});
  std::string m = message_of([&] {
    tg::compile([&](const std::vector<tg::Tensor>& in) { return in[0] * scale.item(); }, {tg::tensor({1.0, 2.0})});
  });
  EXPECT_HAS(m, "item: reads the values of a [1] tensor the function captures");
  EXPECT_HAS(m, "frozen");
  EXPECT_HAS(m, "pass it as an input");
  tg::Tensor lr = tg::tensor(0.5);
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::clamp(in[0], -lr.item(), lr.item()); },
                            {tg::tensor({1.0, 2.0})});
              }), "item: reads the values of a [] tensor the function captures");
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return in[0] * scale.to_vector<double>()[0]; },
                            {tg::tensor({1.0, 2.0})});
              }), "to_vector: reads");
  EXPECT_HAS(message_of([&] {
                tg::compile([&](const std::vector<tg::Tensor>& in) { return in[0] * scale.detach().at({0}); },
                            {tg::tensor({1.0, 2.0})});
              }), "at: reads the values of a [1] tensor the function captures");
  // The fix the message gives: the tensor in an op is read live.
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return in[0] * scale; }, {tg::tensor({1.0})});
  scale.fill_(10.0);
  EXPECT_EQ(step({tg::tensor({3.0})}).item(), 30.0);
  // A constant the function makes is its own: reading it freezes nothing.
  EXPECT_NO_THROW(tg::compile([](const std::vector<tg::Tensor>& in) { return in[0] * tg::tensor({3.0}).item(); },
                              {tg::tensor({1.0})}));
  // allow_host_reads accepts the frozen value, as documented.
  EXPECT_NO_THROW(tg::compile([&](const std::vector<tg::Tensor>& in) { return in[0] * scale.item(); },
                              {tg::tensor({1.0})}, {.allow_host_reads = true}));
}

// ---- 3: captured requires_grad, and (7) a layer's mode, changed after compile ----

TEST(CompiledTrust, ACapturedTensorsRequiresGradChangedIsAnErrorOrARecompile) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Tensor b = tg::tensor({0.5, 0.5});
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * w + b); };
  tg::Compiled step = tg::compile(f, {tg::tensor({1.0, 1.0})});
  EXPECT_FALSE(step.stale());
  b.requires_grad(true);  // e.g. unfreezing a layer
  EXPECT_TRUE(step.stale());
  std::string m = message_of([&] { step({tg::tensor({1.0, 1.0})}); });
  EXPECT_HAS(m, "a [2] tensor it captures requires gradients now, but did not when the step was compiled");
  EXPECT_HAS(m, "compile the step again");
  b.requires_grad(false);
  w.requires_grad(false);  // e.g. freezing it
  EXPECT_HAS(message_of([&] { step({tg::tensor({1.0, 1.0})}); }), "no longer requires gradients");
  // CompiledCache compiles again, and the gradient arrives as eagerly.
  w.requires_grad(true);
  tg::CompiledCache cache(f);
  cache({tg::tensor({1.0, 1.0})});
  b.requires_grad(true);
  cache({tg::tensor({3.0, 4.0})}).backward();
  EXPECT_EQ(cache.compilations(), 2u);
  EXPECT_EQ(values(b.grad()), (std::vector<double>{1.0, 1.0}));
  EXPECT_EQ(values(w.grad()), (std::vector<double>{3.0, 4.0}));
}

TEST(CompiledTrust, AStepCompiledInEvalModeRefusesTrainingMode) {
  tg::nn::Sequential net{tg::nn::Linear(2, 4), tg::nn::Dropout(0.5), tg::nn::Linear(4, 1)};
  net.eval();
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(net(in[0])); };
  tg::Compiled step = tg::compile(f, {tg::ones({3, 2})});
  EXPECT_NO_THROW(step({tg::ones({3, 2})}));
  net.train();
  std::string m = message_of([&] { step({tg::ones({3, 2})}); });
  EXPECT_HAS(m, "Dropout(p=0.5) was in evaluation mode when the step was compiled and is in training mode now");
  net.eval();  // back to the mode it was compiled in: replays again
  EXPECT_NO_THROW(step({tg::ones({3, 2})}));
  // CompiledCache compiles again in the new mode, where Dropout refuses as it does at any compile.
  tg::CompiledCache cache(f);
  cache({tg::ones({3, 2})});
  net.train();
  EXPECT_HAS(message_of([&] { cache({tg::ones({3, 2})}); }), "Dropout(p=0.5): in training mode");

  tg::nn::BatchNorm1d bn(2);
  bn.eval();
  tg::Compiled normed = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(bn(in[0])); },
                                    {tg::ones({3, 2})});
  bn.train();
  EXPECT_HAS(message_of([&] { normed({tg::ones({3, 2})}); }), "was in evaluation mode when the step was compiled");
}

// ---- 4: an eager node saved a slot that the next call rewrites ----

// A frozen compiled feature extractor whose output feeds an eager head, two batches accumulated:
// the first batch's backward must not read the second batch's features.
TEST(CompiledTrust, AnEagerNodeThatSavedAResultSeesTheNextCallAsAWrite) {
  tg::Generator gen(6);
  const tg::Tensor a = tg::randn({3, 4}, gen, tg::Dtype::f64);
  tg::Tensor head = tg::randn({4, 1}, gen, tg::Dtype::f64).requires_grad(true);
  tg::Compiled features = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::relu(tg::matmul(in[0], a)); },
                                      {tg::randn({2, 3}, gen, tg::Dtype::f64)});
  const tg::Tensor x1 = tg::randn({2, 3}, gen, tg::Dtype::f64), x2 = tg::randn({2, 3}, gen, tg::Dtype::f64);
  for (bool keep_a_view : {false, true}) {  // the replay rewrites the buffer, or swaps in a new one
    tg::Tensor h1 = features({x1});
    tg::Tensor view = keep_a_view ? h1.detach() : tg::Tensor();
    tg::Tensor loss1 = tg::sum(tg::matmul(h1, head));  // saves h1 for head's gradient
    tg::Tensor h2 = features({x2});                    // the same slot, new values
    tg::Tensor loss2 = tg::sum(tg::matmul(h2, head));
    loss2.backward();
    const std::string m = message_of([&] { loss1.backward(); });
    EXPECT_HAS(m, "a compiled step's result");
    EXPECT_HAS(m, "a later call of the step overwrote");
    EXPECT_HAS(m, "clone()");
    head.zero_grad();
  }
  // The way the message gives: keep each batch's features with clone().
  tg::Tensor h1 = features({x1}).detach().clone();
  tg::Tensor loss1 = tg::sum(tg::matmul(h1, head));
  tg::Tensor h2 = features({x2});
  tg::Tensor loss2 = tg::sum(tg::matmul(h2, head));
  loss1.backward();
  loss2.backward();
  const auto g = values(head.grad());
  head.zero_grad();
  tg::sum(tg::matmul(tg::relu(tg::matmul(x1, a)), head)).backward();
  tg::sum(tg::matmul(tg::relu(tg::matmul(x2, a)), head)).backward();
  EXPECT_EQ(g, values(head.grad()));
}

// ---- 5: errors that say what happened ----

TEST(CompiledTrust, AResultOfAGoneStepSaysSoNotAnEarlierBackward) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * w); };
  tg::Tensor kept;
  {
    tg::Compiled step = tg::compile(f, {tg::tensor({1.0, 1.0})});
    kept = step({tg::tensor({3.0, 4.0})});
  }
  std::string m = message_of([&] { kept.backward(); });
  EXPECT_HAS(m, "compiled step that has since been destroyed");
  EXPECT_LACKS(m, "earlier backward");
  // Evicted by a CompiledCache that keeps one step.
  tg::Tensor v = tg::tensor({2.0}).requires_grad(true);
  tg::CompiledCache cache([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * v); }, {}, 1);
  tg::Tensor first = cache({tg::tensor({1.0, 1.0})});
  cache({tg::tensor({1.0, 1.0, 1.0})});
  m = message_of([&] { first.backward(); });
  EXPECT_HAS(m, "a CompiledCache evicted it");
  EXPECT_LACKS(m, "earlier backward");
  // Stored by a function whose compile() then failed.
  m = message_of([&] {
    tg::compile([&](const std::vector<tg::Tensor>& in) {
      kept = tg::sum(in[0] * w);
      return kept * in[0].item();
    }, {tg::tensor({1.0, 1.0})});
  });
  EXPECT_HAS(m, "item: reads");
  m = message_of([&] { kept.backward(); });
  EXPECT_HAS(m, "its compile() failed");
  EXPECT_LACKS(m, "earlier backward");
}

TEST(CompiledTrust, AResultOfAFailedCallIsRefusedUntilTheNextCall) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::log(in[0]) * w); },
                                  {tg::tensor({1.0, 1.0})});
  tg::Tensor l = step({tg::tensor({1.0, 2.0})});
  {
    tg::AnomalyGuard anomaly;
    EXPECT_HAS(message_of([&] { step({tg::tensor({-1.0, 2.0})}); }), "produced NaN");  // the replay stops there
  }
  EXPECT_HAS(message_of([&] { l.backward(); }), "failed part-way");
  l = step({tg::tensor({1.0, 2.0})});
  EXPECT_NO_THROW(l.backward());
}

TEST(CompiledTrust, ACapturedTensorRecordedEagerlyHereIsNotAnotherThreads) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Tensor h = w * 2.0;  // recorded on this thread's tape
  std::string m = message_of([&] {
    tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * h); }, {tg::tensor({1.0, 1.0})});
  });
  EXPECT_HAS(m, "recorded eagerly on this thread before compile() ran");
  EXPECT_LACKS(m, "another thread");
}

TEST(CompiledTrust, AnotherRequiresGradIsNotCalledANewShape) {
  tg::Compiled step = tg::compile([](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * 2.0); },
                                  {tg::tensor({1.0, 1.0})});
  std::string m = message_of([&] { step({tg::tensor({1.0, 1.0}).requires_grad(true)}); });
  EXPECT_HAS(m, "input 0 is [2] float32 requiring gradients, but the step was compiled for [2] float32: its "
                "requires_grad differs");
  EXPECT_LACKS(m, "new shape");
}

TEST(CompiledTrust, AHostReadOfAnInputNamesTheInput) {
  std::string m = message_of([] {
    tg::compile([](const std::vector<tg::Tensor>& in) { return in[0] * in[0].item(); }, {tg::tensor({1.0})});
  });
  EXPECT_HAS(m, "item: reads the values of an input of the function");
  EXPECT_LACKS(m, "computed from the inputs");
  m = message_of([] {
    tg::compile([](const std::vector<tg::Tensor>& in) { return in[0] * (in[0] * 2.0).item(); }, {tg::tensor({1.0})});
  });
  EXPECT_HAS(m, "computed from the inputs");
}

// ---- 6: gradcheck of a function that calls a compiled step ----

TEST(CompiledTrust, GradcheckThroughACompiledStepPassesAndLeavesGradAlone) {
  tg::Tensor w = tg::tensor({0.5, -1.5, 2.0}).to(tg::Dtype::f64).requires_grad(true);
  w.set_grad(tg::tensor({7.0, 8.0, 9.0}).to(tg::Dtype::f64));
  tg::Compiled step = tg::compile([&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::sin(in[0]) * w); },
                                  {tg::zeros({3}, tg::Dtype::f64).requires_grad(true)});
  tg::GradcheckReport r =
      tg::gradcheck([&](const std::vector<tg::Tensor>& in) { return step(in); }, {tg::tensor({0.1, 0.7, -0.4}).to(tg::Dtype::f64)});
  EXPECT_TRUE(r.ok) << r;
  EXPECT_TRUE(r.vacuous.empty()) << r;
  EXPECT_FALSE(r.nodes.empty()) << r;
  EXPECT_EQ(values(w.grad()), (std::vector<double>{7.0, 8.0, 9.0})) << "gradcheck promises not to touch grad()";
}

// ---- 7: second backward(), NoGradGuard ----

TEST(CompiledTrust, ASecondBackwardNeedsRetainGraphAsEagerly) {
  tg::Tensor w = tg::tensor({0.5, -1.5, 2.0}).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(tg::square(w * in[0])); };
  const tg::Tensor x = tg::tensor({1.0, 2.0, 3.0});
  tg::Compiled step = tg::compile(f, {x});
  tg::Tensor l = step({x});
  l.backward();
  std::string m = message_of([&] { l.backward(); });
  EXPECT_HAS(m, "already ran backward() since its last call");
  EXPECT_HAS(m, "retain_graph");
  tg::Tensor e = f({x});
  e.backward();
  EXPECT_HAS(message_of([&] { e.backward(); }), "retain_graph");  // eager raises too
  // With retain_graph the second accumulates, as eagerly.
  w.zero_grad();
  l = step({x});
  l.backward({.retain_graph = true});
  l.backward();
  const auto twice = values(w.grad());
  w.zero_grad();
  e = f({x});
  e.backward({.retain_graph = true});
  e.backward();
  EXPECT_EQ(twice, values(w.grad()));
  // The next call recomputes the graph: backward() runs again.
  EXPECT_NO_THROW(step({x}).backward());
}

TEST(CompiledTrust, UnderNoGradGuardAResultNeedsNoGradientAsEagerly) {
  tg::Tensor w = tg::tensor({1.0, 2.0}).requires_grad(true);
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * w); };
  tg::Compiled step = tg::compile(f, {tg::tensor({1.0, 1.0})});
  tg::Tensor r, e;
  {
    tg::NoGradGuard no_grad;
    r = step({tg::tensor({3.0, 4.0})});
    e = f({tg::tensor({3.0, 4.0})});
  }
  EXPECT_EQ(r.requires_grad(), e.requires_grad());
  EXPECT_FALSE(r.requires_grad());
  EXPECT_EQ(r.item(), 11.0);
  EXPECT_HAS(message_of([&] { r.backward(); }), "does not require gradients");
  EXPECT_TRUE(step({tg::tensor({3.0, 4.0})}).requires_grad());
  // The other way: compiled under NoGradGuard (no node recorded), called to train.
  tg::Compiled unrecorded;
  {
    tg::NoGradGuard no_grad;
    unrecorded = tg::compile(f, {tg::tensor({1.0, 1.0})});
    EXPECT_EQ(unrecorded({tg::tensor({3.0, 4.0})}).item(), 11.0);
  }
  EXPECT_TRUE(unrecorded.stale());
  EXPECT_HAS(message_of([&] { unrecorded({tg::tensor({3.0, 4.0})}); }), "compiled under NoGradGuard");
  // CompiledCache: the step compiled for evaluation is compiled again for training.
  tg::CompiledCache cache(f);
  {
    tg::NoGradGuard no_grad;
    EXPECT_FALSE(cache({tg::tensor({3.0, 4.0})}).requires_grad());
  }
  tg::Tensor trained = cache({tg::tensor({3.0, 4.0})});
  EXPECT_TRUE(trained.requires_grad());
  EXPECT_EQ(cache.compilations(), 2u);
}

}  // namespace
