// The tape: recording order, replay, accumulation, release, misuse, threads, DOT export.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>
#include <future>
#include <thread>

namespace tg = tapegrad;

namespace {
tg::Tensor leaf(double v) { return tg::tensor(v, tg::Dtype::f64).requires_grad(true); }
}  // namespace

TEST(Tape, TensorUsedTwiceGetsBothContributions) {
  auto x = leaf(3.0);
  auto y = x * x + x;  // dy/dx = 2x + 1
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 7.0);
}

TEST(Tape, GradientsAccumulateAcrossBackwardCallsUntilZeroed) {
  auto x = leaf(2.0);
  (x * 3.0).backward();
  (x * 3.0).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 6.0);
  x.zero_grad();
  EXPECT_DOUBLE_EQ(x.grad().item(), 0.0);
}

TEST(Tape, SecondBackwardOnReleasedGraphIsAnError) {
  auto x = leaf(2.0);
  auto y = tg::exp(x);
  y.backward();
  try {
    y.backward();
    FAIL() << "expected tg::Error";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("already released"), std::string::npos) << e.what();
  }
}

TEST(Tape, RetainGraphAllowsASecondBackward) {
  auto x = leaf(2.0);
  auto y = tg::exp(x);
  y.backward({.retain_graph = true});
  y.backward();
  EXPECT_NEAR(x.grad().item(), 2 * std::exp(2.0), 1e-12);
}

TEST(Tape, NonScalarBackwardNeedsAnUpstreamGradient) {
  auto x = tg::tensor({1.0, 2.0}, tg::Dtype::f64).requires_grad(true);
  auto y = x * 2.0;
  EXPECT_THROW(y.backward(), tg::Error);
  y.backward(tg::tensor({1.0, 10.0}, tg::Dtype::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2.0, 20.0}));
}

TEST(Tape, BackwardOnATensorWithoutGradientsIsAnError) {
  auto x = tg::tensor(1.0);
  EXPECT_THROW((x * 2.0).backward(), tg::Error);
}

TEST(Tape, NoGradGuardRecordsNothing) {
  auto x = leaf(1.0);
  size_t before = tg::Tape::current().live_nodes();
  {
    tg::NoGradGuard no_grad;
    auto y = x * 2.0 + 1.0;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(tg::Tape::current().live_nodes(), before);
  }
  EXPECT_TRUE((x * 2.0).requires_grad());
}

TEST(Tape, NodesAreReleasedAfterBackward) {
  tg::Tape::current().clear();
  auto x = leaf(1.0);
  auto y = tg::sum(tg::sigmoid(x * 2.0 + 1.0));
  EXPECT_EQ(tg::Tape::current().live_nodes(), 4u);
  y.backward();
  EXPECT_EQ(tg::Tape::current().live_nodes(), 0u);
}

TEST(Tape, DroppedGraphsAreCollected) {
  tg::Tape::current().clear();
  auto x = leaf(1.0);
  for (int i = 0; i < 10000; ++i) {
    auto unused = tg::exp(x * 2.0);  // recorded, never backpropagated, dropped
  }
  EXPECT_LT(tg::Tape::current().size(), 2000u);
}

TEST(Tape, MillionNodeChainRunsBackwardWithoutRecursion) {
  tg::Tape::current().clear();
  auto x = leaf(1.0);
  tg::Tensor y = x;
  for (int i = 0; i < 1000000; ++i) y = y + 1e-6;
  EXPECT_EQ(tg::Tape::current().live_nodes(), 1000000u);
  y.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
  EXPECT_EQ(tg::Tape::current().live_nodes(), 0u);
  // Dropping a long recorded chain without backward must not recurse either.
  tg::Tensor z = x;
  for (int i = 0; i < 1000000; ++i) z = z * 1.0;
  z = tg::Tensor();
  tg::Tape::current().collect();
  EXPECT_EQ(tg::Tape::current().live_nodes(), 0u);
  tg::Tape::current().shrink();
}

TEST(Tape, InPlaceChangeOfASavedTensorIsDetected) {
  auto x = leaf(2.0);
  auto y = tg::exp(x);  // exp's backward needs its output
  auto z = y * 3.0;     // mul needs y
  auto w = y.detach();
  w.add_(tg::tensor(1.0, tg::Dtype::f64));
  try {
    z.backward();
    FAIL() << "expected tg::Error";
  } catch (const tg::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("mul_scalar"), std::string::npos) << m;
    EXPECT_NE(m.find("add_"), std::string::npos) << m;
  }
}

TEST(Tape, TensorsFromAnotherThreadsTapeAreRejected) {
  auto x = leaf(1.0);
  tg::Tensor y;
  std::promise<void> recorded, checked;
  std::thread t([&] {
    y = x * 2.0;
    recorded.set_value();
    checked.get_future().wait();  // keep this thread's tape alive while the main thread tries
  });
  recorded.get_future().wait();
  EXPECT_THROW(y + 1.0, tg::Error);
  EXPECT_THROW(y.backward(), tg::Error);
  checked.set_value();
  t.join();
}

TEST(Tape, ThreadsTrainIndependently) {
  auto run = [](double start, double* out) {
    auto w = tg::tensor(start, tg::Dtype::f64).requires_grad(true);
    for (int i = 0; i < 1000; ++i) {
      auto loss = tg::square(w - 3.0);
      loss.backward();
      tg::NoGradGuard g;
      w.add_(w.grad(), -0.01);
      w.zero_grad();
    }
    *out = w.item();
  };
  double a = 0, b = 0, a_alone = 0, b_alone = 0;
  std::thread t1(run, 0.0, &a), t2(run, 10.0, &b);
  t1.join();
  t2.join();
  run(0.0, &a_alone);
  run(10.0, &b_alone);
  EXPECT_EQ(a, a_alone);
  EXPECT_EQ(b, b_alone);
}

TEST(Tape, DotExportNamesEveryNodeAndShape) {
  auto x = tg::tensor({{1.0, 2.0}}, tg::Dtype::f64);
  auto W = tg::ones({2, 3}, tg::Dtype::f64).requires_grad(true);
  auto loss = tg::sum(tg::relu(tg::matmul(x, W)));
  std::string dot = tg::to_dot(loss);
  EXPECT_NE(dot.find("digraph"), std::string::npos);
  EXPECT_NE(dot.find("matmul\\n[1, 3]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("relu\\n[1, 3]"), std::string::npos) << dot;
  EXPECT_NE(dot.find("sum\\n[]"), std::string::npos) << dot;
}

TEST(Tape, AskingForTheGradientOfATensorThatDoesNotRequireOneIsAnError) {
  auto x = tg::tensor({1.0, 2.0});
  EXPECT_FALSE(x.has_grad());
  EXPECT_THROW(x.grad(), tg::Error);
  auto w = tg::tensor({1.0, 2.0}).requires_grad(true);
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{0.0f, 0.0f}));  // none accumulated yet
  auto y = w * 2.0;
  EXPECT_THROW(y.grad(), tg::Error);  // not a leaf
  auto z = tg::sum(y);
  z.backward();
  EXPECT_FALSE(y.is_leaf());           // still not a leaf once its node was released
  EXPECT_THROW(y.grad(), tg::Error);
}

TEST(Tape, OnlyLeavesCanBeMarked) {
  auto x = leaf(1.0);
  auto y = x * 2.0;
  EXPECT_THROW(y.requires_grad(true), tg::Error);
}

TEST(Tape, AFailedBackwardLeavesNoStateBehind) {
  auto w = tg::tensor({1.0, 2.0}, tg::Dtype::f64).requires_grad(true);
  {
    auto y = tg::sum(tg::square(w));
    y.backward({.retain_graph = true});
    w.mul_(2.0);
    EXPECT_THROW(y.backward(), tg::Error);  // square saw w before mul_
  }
  tg::Tape::current().collect();
  EXPECT_EQ(tg::Tape::current().live_nodes(), 0u);
  auto x = tg::tensor({3.0}, tg::Dtype::f64).requires_grad(true);
  tg::sum(tg::square(x)).backward();  // an unrelated graph works
  EXPECT_DOUBLE_EQ(x.grad().item(), 6.0);
}

// h's node is released by the first backward; a second loss through h must not take h for a
// leaf and return the partial gradient 3 (the answer is 3 + 30): it is an error naming h.
TEST(Tape, ASecondLossThroughAReleasedSubgraphIsAnError) {
  auto x = tg::tensor({1.0, 2.0}, tg::Dtype::f64);
  auto w = tg::tensor({1.0, 1.0}, tg::Dtype::f64).requires_grad(true);
  tg::Tensor h = x * w;
  tg::Tensor l1 = tg::sum(h), l2 = tg::sum(h * 10.0);
  l1.backward();
  try {
    l2.backward();
    FAIL() << "the second backward ran through a released node";
  } catch (const tg::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("input 0 of mul_scalar, a [2] tensor, is the output of a node that an earlier backward() released"),
              std::string::npos)
        << m;
  }
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{1, 2})) << "the failed backward changed grad()";

  // With the graph retained, both losses reach w: 3 + 30 in total for x = [1, 2].
  w.zero_grad();
  tg::Tensor k = x * w;
  tg::sum(k).backward({.retain_graph = true});
  tg::sum(k * 10.0).backward();
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{11, 22}));
}

// A graph whose recording thread has ended cannot be differentiated, and the error says why
// (no backward ever ran on it).
TEST(Tape, BackwardAfterTheRecordingThreadExitedSaysSo) {
  auto x = leaf(1.0);
  tg::Tensor y;
  std::thread([&] { y = x * 2.0; }).join();
  try {
    y.backward();
    FAIL() << "backward ran on a graph whose tape is gone";
  } catch (const tg::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("released when the thread that recorded it exited"), std::string::npos) << m;
    EXPECT_EQ(m.find("earlier backward"), std::string::npos) << m;
  }
}

// A backward adds exactly its own gradient to grad(): its contributions to a leaf are summed
// first and added once, so a second identical pass leaves exactly 2 g (g + g is exact), in
// float32 too, where adding c1 and then c2 to g would round differently.
TEST(Tape, ASecondBackwardAddsExactlyTheFirstsGradient) {
  for (tg::Dtype d : {tg::Dtype::f32, tg::Dtype::f64}) {
    tg::Generator gen(3);
    tg::Tensor w = tg::randn({7}, gen, d).requires_grad(true);
    tg::Tensor x = tg::randn({7}, gen, d);
    // w reaches the loss along three paths, so its gradient is a sum of contributions.
    tg::Tensor loss = tg::sum(tg::tanh(w * x) + tg::sigmoid(w) * 3.0 + tg::square(w) * x);
    loss.backward({.retain_graph = true});
    const tg::Tensor g = w.grad().clone();
    loss.backward();
    const tg::Tensor twice = g + g;
    EXPECT_EQ(w.grad().to_vector<double>(), twice.to_vector<double>()) << tg::dtype_name(d);
  }
}

// clone() is differentiable, as torch's is: sum(x) + sum(5 x.clone()) has gradient 6, not 1.
TEST(Tape, CloneIsDifferentiable) {
  tg::Tensor x = tg::tensor({1.0, -2.0}, tg::Dtype::f64).requires_grad(true);
  (tg::sum(x) + tg::sum(x.clone() * 5.0)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 6}));
  tg::Tensor leaf = x.detach().clone();
  EXPECT_TRUE(leaf.is_leaf());
  EXPECT_FALSE(leaf.requires_grad());
}
