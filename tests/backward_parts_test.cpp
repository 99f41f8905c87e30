// select's gradients of one tensor arrive in parts (a recurrent net's steps taken from one
// tensor) and are joined by one stack when the tensor's gradient is read, not each added into a
// tensor of the whole size. The joined gradient must be exactly the sum of the parts, whatever
// mix of parts, repeats, gaps and whole gradients comes in.
#include <gtest/gtest.h>

#include <algorithm>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
tg::Tensor iota(int64_t rows, int64_t cols) {
  std::vector<double> v(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5 + static_cast<double>(i);
  return tg::from_vector(v, {rows, cols}, tg::Dtype::f64);
}
}  // namespace

// Rows 0 and 2 taken once each, row 1 twice, row 3 never: the gradient has each row's total and
// zeros where nothing was taken.
TEST(BackwardParts, RepeatsAndGapsSumAsAccumulationWould) {
  const tg::Tensor x = iota(4, 3).requires_grad(true);
  const tg::Tensor y = x * 2.0;  // a non-leaf, held only by the selects' nodes
  const tg::Tensor loss = tg::sum(tg::select(y, 0, 0) * 1.0) + tg::sum(tg::select(y, 0, 1) * 3.0) +
                          tg::sum(tg::select(y, 0, 2) * 5.0) + tg::sum(tg::select(y, 0, -3) * 7.0);
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2, 20, 20, 20, 10, 10, 10, 0, 0, 0}));
}

// Parts along axis 1 of a leaf, then a whole gradient of the same leaf: both are in its grad().
TEST(BackwardParts, PartsAndWholeGradientsOfALeafAddUp) {
  const tg::Tensor x = iota(2, 3).requires_grad(true);
  const tg::Tensor loss =
      tg::sum(tg::select(x, 1, 0)) + tg::sum(tg::select(x, 1, 2) * 4.0) + tg::sum(x * 10.0) + tg::sum(tg::select(x, 0, 1));
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{11, 10, 14, 12, 11, 15}));
  EXPECT_THROW(loss.backward(), tg::Error);  // released graph: refused, and the first gradient is untouched
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{11, 10, 14, 12, 11, 15}));
}

// Parts along two different axes of one tensor: the second axis's part is added whole.
TEST(BackwardParts, PartsAlongTwoAxesOfOneTensor) {
  const tg::Tensor x = iota(3, 3).requires_grad(true);
  tg::Tensor y = x + 0.0;
  tg::sum(tg::select(y, 0, 1) * 2.0 + tg::select(y, 1, 2) * 3.0).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 3, 2, 2, 5, 0, 0, 3}));
}

// tg::grad returns the joined gradient of a target; a leaf that is not a target keeps no parts.
TEST(BackwardParts, GradOfTargetsWithParts) {
  const tg::Tensor x = iota(3, 2).requires_grad(true), w = iota(3, 2).requires_grad(true);
  const tg::Tensor loss = tg::sum(tg::select(x, 0, 0) * tg::select(w, 0, 2)) + tg::sum(tg::select(x, 0, 2));
  const std::vector<tg::Tensor> g = tg::grad(loss, {x});
  EXPECT_EQ(g[0].to_vector<double>(), (std::vector<double>{4.5, 5.5, 0, 0, 1, 1}));
  EXPECT_FALSE(w.has_grad());
}

// The point of the parts: under create_graph, T selects' gradients are one recorded stack, not T
// placements and T - 1 additions; and that stack differentiates again (second order).
TEST(BackwardParts, TStepsJoinInOneRecordedNodeAndDifferentiateTwice) {
  constexpr int64_t T = 50;
  const tg::Tensor x = iota(T, 2).requires_grad(true);
  tg::Tensor y = x * x;
  tg::Tensor loss = tg::zeros({2}, tg::Dtype::f64);
  for (int64_t t = 0; t < T; ++t) loss = loss + tg::select(y, 0, t);
  loss = tg::sum(loss);
  const size_t before = tg::Tape::current().size();
  const std::vector<tg::Tensor> g = tg::grad(loss, {x}, {.create_graph = true});
  const size_t recorded = tg::Tape::current().size() - before;
  // The stack, and mul's backward (two products and their sum): a few nodes, not 2 T.
  EXPECT_LT(recorded, 10u) << recorded << " nodes recorded by the backward of " << T << " selects";
  EXPECT_EQ(g[0].to_vector<double>(), (x * 2.0).detach().to_vector<double>());
  const std::vector<tg::Tensor> gg = tg::grad(tg::sum(g[0]), {x});
  EXPECT_EQ(gg[0].to_vector<double>(), std::vector<double>(2 * T, 2.0));
}

// gradcheck over every node of a select-heavy function, first and second order.
TEST(BackwardParts, GradcheckThroughManySelects) {
  tg::Generator gen(5);
  const tg::Tensor x = tg::randn({4, 4}, gen, tg::Dtype::f64).requires_grad(true);
  auto fn = [](const std::vector<tg::Tensor>& in) {
    const tg::Tensor y = tg::tanh(in[0]);
    tg::Tensor acc = tg::select(y, 0, 3);
    for (int64_t t = 0; t < 3; ++t) acc = acc * tg::select(y, 0, t) + tg::select(y, 1, t % 2);
    return tg::sum(acc * acc);
  };
  const tg::GradcheckReport first = tg::gradcheck(fn, {x});
  EXPECT_TRUE(first.ok) << first.str();
  const tg::GradcheckReport second = tg::gradgradcheck(fn, {x});
  EXPECT_TRUE(second.ok) << second.str();
}

// Slices' gradients are added whole (placing each in a tensor of zeros), beside select's parts:
// gaps are zeros, repeats and overlaps add. (Joining slices' gradients as parts, like select's,
// was measured slower for an LSTM's [h', c'] split: docs/performance.md.)
TEST(BackwardParts, SlicesAddWholeBesideSelectsParts) {
  const tg::Tensor x = iota(2, 6).requires_grad(true);
  const tg::Tensor y = x * 1.0;
  const tg::Tensor loss = tg::sum(tg::slice(y, 1, 0, 2) * 2.0) + tg::sum(tg::slice(y, 1, 0, 2)) +
                          tg::sum(tg::slice(y, 1, 3, 5) * 10.0) + tg::sum(tg::slice(y, 1, 0, 6, 5) * 100.0);
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{103, 3, 0, 10, 10, 100, 103, 3, 0, 10, 10, 100}));
  const tg::Tensor z = iota(1, 4).requires_grad(true);
  (tg::sum(tg::slice(z, 1, 0, 3)) + tg::sum(tg::slice(z, 1, 1, 4) * 2.0)).backward();  // overlapping
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{1, 3, 3, 2}));
  const tg::Tensor u = iota(3, 2).requires_grad(true);
  (tg::sum(tg::slice(u, 0, 0, 1)) + tg::sum(tg::select(u, 0, 2) * 4.0)).backward();  // a slice's and a select's parts
  EXPECT_EQ(u.grad().to_vector<double>(), (std::vector<double>{1, 1, 0, 0, 4, 4}));
}

TEST(BackwardParts, SlicesGradcheckFirstAndSecondOrder) {
  tg::Generator gen(6);
  const tg::Tensor x = tg::randn({3, 4}, gen, tg::Dtype::f64).requires_grad(true);
  auto fn = [](const std::vector<tg::Tensor>& in) {
    const tg::Tensor y = tg::sin(in[0]);
    const tg::Tensor a = tg::slice(y, 1, 0, 2), b = tg::slice(y, 1, 2, 4), c = tg::slice(y, 1, 1, 3);
    return tg::sum(a * b * c) + tg::sum(tg::slice(y, 0, 1, 3) * tg::slice(y, 0, 0, 2));
  };
  const tg::GradcheckReport first = tg::gradcheck(fn, {x});
  EXPECT_TRUE(first.ok) << first.str();
  const tg::GradcheckReport second = tg::gradgradcheck(fn, {x});
  EXPECT_TRUE(second.ok) << second.str();
}

// An error part-way through a pass (an in-place change the backward detects) drops the parts
// collected so far, their owner included (held only by the released selects): the next pass
// over a fresh graph of the same leaf gets exactly its own gradient.
TEST(BackwardParts, AnErrorMidPassLeavesNoPartsBehind) {
  const tg::Tensor x = iota(4, 3).requires_grad(true);
  const tg::Tensor w = iota(3, 3).requires_grad(true);
  {
    tg::Tensor h = tg::zeros({3}, tg::Dtype::f64);
    const tg::Tensor projected = tg::matmul(x, w);  // held by the selects' nodes only, below
    tg::Tensor loss;
    for (int64_t t = 0; t < 4; ++t) h = tg::tanh(tg::select(projected, 0, t) + h * tg::select(w, 0, t % 3));
    loss = tg::sum(h);
    {
      tg::NoGradGuard no_grad;
      w.detach().mul_(0.5);  // as an optimizer's step() before backward()
    }
    EXPECT_THROW(loss.backward(), tg::Error);
  }
  EXPECT_FALSE(x.has_grad());
  const tg::Tensor loss = tg::sum(tg::select(x, 0, 1) * 2.0) + tg::sum(tg::select(x, 0, 3));
  loss.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 0, 2, 2, 2, 0, 0, 0, 1, 1, 1}));
}

// Two rows of a long axis (a table's): placed and added, not stacked with thousands of zeros;
// under create_graph that is a few recorded nodes, not one node of 10,000 inputs.
TEST(BackwardParts, FewPartsOfALongAxisArePlacedAndAdded) {
  const tg::Tensor table = tg::zeros({10000, 2}, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor y = table * 3.0;
  const tg::Tensor loss = tg::sum(tg::select(y, 0, 7)) + tg::sum(tg::select(y, 0, 9000) * 2.0);
  const std::vector<tg::Tensor> g = tg::grad(loss, {table}, {.create_graph = true});
  for (const tg::NodeView& n : tg::Tape::current().nodes_of(g[0])) EXPECT_LT(n.inputs.size(), 10u) << n.op;
  const std::vector<double> v = g[0].detach().to_vector<double>();
  EXPECT_EQ(v[14], 3.0);
  EXPECT_EQ(v[18001], 6.0);
  EXPECT_EQ(std::count(v.begin(), v.end(), 0.0), 20000 - 4);
}
