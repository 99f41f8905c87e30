// Indexing, joining and shape ops on values checked by hand: Python's slice rules, the gradient
// of repeated indices, which results are views (they share the version counter, so the in-place
// error still fires through them) and which are copies, and their errors. (Each op is also
// gradchecked whole and per node by the registry loop.)
#include <gtest/gtest.h>

#include <functional>
#include <sstream>
#include <string>

#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {
const auto f64 = tg::Dtype::f64;
// [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
tg::Tensor grid() {
  std::vector<double> v(12);
  for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<double>(k);
  return tg::from_vector(v, {3, 4}, f64);
}
std::vector<double> values(const tg::Tensor& t) { return t.to_vector<double>(); }
}  // namespace

TEST(OpsShape, SliceFollowsPython) {
  const tg::Tensor x = grid();
  EXPECT_EQ(values(tg::slice(x, 1, 1, 3)), (std::vector<double>{1, 2, 5, 6, 9, 10}));
  EXPECT_EQ(values(tg::slice(x, 1, -3, 100, 2)), (std::vector<double>{1, 3, 5, 7, 9, 11})) << "x[:, -3:100:2]";
  EXPECT_EQ(tg::slice(x, 0, 2, 1).shape(), (tg::Shape{0, 4})) << "an empty slice, as x[2:1]";
  EXPECT_EQ(values(tg::slice(x, -2, -1, 3)), (std::vector<double>{8, 9, 10, 11}));
  EXPECT_EQ(message_of([&] { tg::slice(x, 1, 0, 4, 0); }), "slice: step must be >= 1, got 0 (shape [3, 4])");
  EXPECT_EQ(message_of([&] { tg::slice(x, 2, 0, 1); }), "slice: axis 2 is out of range for shape [3, 4] (rank 2)");
}

TEST(OpsShape, SelectDropsTheAxisAndChecksTheIndex) {
  const tg::Tensor x = grid();
  EXPECT_EQ(values(tg::select(x, 0, 1)), (std::vector<double>{4, 5, 6, 7}));
  EXPECT_EQ(values(tg::select(x, 1, -1)), (std::vector<double>{3, 7, 11}));
  EXPECT_EQ(tg::select(x, 1, -1).shape(), (tg::Shape{3}));
  EXPECT_EQ(message_of([&] { tg::select(x, 0, 3); }),
            "select: index 3 is out of range for axis 0 of size 3 (shape [3, 4])");
}

TEST(OpsShape, RepeatedIndicesAddTheirGradients) {
  tg::Tensor x = grid().requires_grad(true);
  const tg::Tensor y = tg::index_select(x, 1, std::vector<int64_t>{2, 0, 2, -1});
  EXPECT_EQ(values(tg::select(y, 0, 0)), (std::vector<double>{2, 0, 2, 3}));
  tg::sum(y).backward();
  EXPECT_EQ(values(tg::select(x.grad(), 0, 0)), (std::vector<double>{1, 0, 2, 1}));
  EXPECT_EQ(message_of([&] { tg::index_select(grid(), 1, std::vector<int64_t>{4}); }),
            "index_select: index 4 is out of range for axis 1 of size 4 (shape [3, 4])");
}

TEST(OpsShape, GatherTakesOneElementPerRowOrColumn) {
  tg::Tensor x = grid().requires_grad(true);
  const tg::Tensor rows = tg::gather(x, 1, std::vector<int64_t>{3, 0, -2});
  EXPECT_EQ(values(rows), (std::vector<double>{3, 4, 10}));
  tg::sum(rows).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0}));
  EXPECT_EQ(values(tg::gather(grid(), 0, std::vector<int64_t>{2, 1, 0, 0})), (std::vector<double>{8, 5, 2, 3}));
  EXPECT_EQ(message_of([] { tg::gather(grid(), 1, std::vector<int64_t>{0, 1}); }),
            "gather: expected 3 indices (one per row of [3, 4]), got 2");
}

TEST(OpsShape, CatAndStackJoinAndSplitTheGradient) {
  tg::Tensor a = tg::ones({2, 3}, f64).requires_grad(true), b = tg::zeros({1, 3}, f64).requires_grad(true);
  const tg::Tensor c = tg::cat({a, b}, 0);
  EXPECT_EQ(c.shape(), (tg::Shape{3, 3}));
  EXPECT_EQ(values(tg::select(c, 0, 2)), (std::vector<double>{0, 0, 0}));
  tg::sum(c * tg::from_vector(std::vector<double>{1, 2, 3}, {3, 1}, f64)).backward();
  EXPECT_EQ(values(a.grad()), (std::vector<double>{1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(values(b.grad()), (std::vector<double>{3, 3, 3}));
  EXPECT_EQ(tg::stack({grid(), grid()}, -1).shape(), (tg::Shape{3, 4, 2}));
  EXPECT_EQ(message_of([] { tg::cat({tg::ones({2, 3}), tg::ones({2, 4})}, 0); }),
            "cat: tensor 1 has shape [2, 4], but tensor 0 has [2, 3] (all must match except along axis 0)");
  EXPECT_EQ(message_of([] { tg::stack({}, 0); }), "stack: got no tensors to join");
}

TEST(OpsShape, PermuteTransposeAndExpand) {
  const tg::Tensor x = tg::reshape(grid(), {1, 3, 4});
  const tg::Tensor p = tg::permute(x, {2, 0, 1});
  EXPECT_EQ(p.shape(), (tg::Shape{4, 1, 3}));
  EXPECT_EQ(values(tg::select(p, 0, 1)), (std::vector<double>{1, 5, 9}));
  EXPECT_EQ(values(tg::transpose(x, 1, 2)), values(tg::permute(x, {0, 2, 1})));
  EXPECT_EQ(message_of([&] { tg::permute(x, {0, 0, 1}); }), "permute: [0, 0, 1] names axis 0 twice (shape [1, 3, 4])");
  const tg::Tensor e = tg::expand(tg::from_vector(std::vector<double>{1, 2}, {2, 1}, f64), {3, -1, 2});
  EXPECT_EQ(e.shape(), (tg::Shape{3, 2, 2}));
  EXPECT_EQ(values(tg::select(e, 0, 2)), (std::vector<double>{1, 1, 2, 2}));
  EXPECT_EQ(message_of([] { tg::expand(tg::ones({2}), {-1, 2}); }),
            "expand: -1 at dimension 0 of [-1, 2] names a new dimension of [2], which has no size to keep");
}

// unsqueeze, squeeze, flatten and reshape are views: an in-place write through the view is a
// write to the original, and the version counter sees it.
TEST(OpsShape, ViewsShareTheVersionCounterCopiesDoNot) {
  tg::Tensor w = tg::ones({2, 3}, f64).requires_grad(true);
  tg::Tensor loss = tg::sum(w * w);
  tg::Tensor view = tg::flatten(w.detach());
  {
    tg::NoGradGuard no_grad;
    view.mul_(2.0);
  }
  EXPECT_EQ(w.at({1, 2}), 2.0) << "flatten is a view of w";
  EXPECT_NE(message_of([&] { loss.backward(); }).find("modified in place by mul_"), std::string::npos);
  tg::Tape::current().clear();

  tg::Tensor u = tg::ones({2, 3}, f64);
  for (const tg::Tensor& v : {tg::unsqueeze(u, 0), tg::squeeze(tg::unsqueeze(u, 1), 1), tg::reshape(u, {-1})})
    EXPECT_EQ(v.raw_data(), u.raw_data()) << "a view shares the storage";
  EXPECT_NE(tg::slice(u, 0, 0, 1).raw_data(), u.raw_data()) << "slice copies";
  EXPECT_NE(tg::permute(u, {1, 0}).raw_data(), u.raw_data()) << "permute copies";
  EXPECT_EQ(tg::flatten(tg::ones({2, 3, 4}), 1).shape(), (tg::Shape{2, 12}));
  EXPECT_EQ(tg::squeeze(tg::ones({1, 2, 1})).shape(), (tg::Shape{2}));
  EXPECT_EQ(message_of([] { tg::squeeze(tg::ones({2, 3}), 1); }), "squeeze: axis 1 of [2, 3] has size 3, not 1");
  EXPECT_EQ(message_of([] { tg::unsqueeze(tg::ones({2, 3}), 3); }),
            "unsqueeze: axis 3 is out of range for a new axis of shape [2, 3] (from -3 to 2)");
}

// expand, broadcast_to and to_dtype promise a copy, also when nothing changes: a write into the
// result must not reach the input (the in-place error of a view would not fire: no view exists).
TEST(OpsShape, CopiesToTheSameShapeOrDtypeAreStillCopies) {
  const tg::Tensor x = grid();
  const std::vector<std::function<tg::Tensor()>> copies = {
      [&] { return tg::expand(x, {3, 4}); },
      [&] { return tg::expand(x, {-1, -1}); },
      [&] { return tg::broadcast_to(x, x.shape()); },
      [&] { return tg::to_dtype(x, f64); },
      [&] { return tg::permute(x, {0, 1}); },
      [&] { return tg::transpose(x, 1, 1); },
      [&] { return tg::slice(x, 0, 0, 3); },
      [&] { return tg::index_select(x, 0, {0, 1, 2}); },
      [&] { return tg::cat({x}, 0); },
  };
  for (size_t k = 0; k < copies.size(); ++k) {
    tg::Tensor y = copies[k]();
    ASSERT_EQ(y.shape(), x.shape());
    y.fill_(-1.0);
    EXPECT_EQ(values(x), values(grid())) << "copy " << k << " wrote into its input";
  }
  // The gradient still flows through each of them.
  tg::Tensor a = grid().requires_grad(true);
  tg::sum(tg::expand(a, {3, 4}) * 2.0).backward();
  EXPECT_EQ(values(a.grad()), std::vector<double>(12, 2.0));
  // Tensor::to shares the tensor when the dtype is already the one asked for, as documented.
  EXPECT_EQ(x.to(f64).data<double>(), x.data<double>());
}

// select is one node named select (the op the user called), not a slice and a reshape: that is
// what gradcheck's per-node report and the DOT graph name.
TEST(OpsShape, SelectIsOneNodeNamedSelect) {
  tg::Tensor x = grid().requires_grad(true);
  const tg::Tensor y = tg::select(x, 1, -1);
  EXPECT_EQ(values(y), (std::vector<double>{3, 7, 11}));
  const auto nodes = tg::Tape::current().nodes_of(y);
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].op, "select");
  const std::string dot = tg::to_dot(y);
  EXPECT_NE(dot.find("select"), std::string::npos) << dot;
  EXPECT_EQ(dot.find("slice"), std::string::npos) << dot;
  EXPECT_EQ(dot.find("reshape"), std::string::npos) << dot;
  const tg::GradcheckReport r = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return tg::select(in[0], 0, 1); }, {x});
  EXPECT_TRUE(r.ok) << r;
  ASSERT_EQ(r.nodes.size(), 1u);
  std::ostringstream os;
  os << r;
  EXPECT_NE(os.str().find("select"), std::string::npos) << os.str();
  tg::sum(y).backward();
  EXPECT_EQ(values(x.grad()), (std::vector<double>{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  // Its errors are unchanged.
  EXPECT_EQ(message_of([] { tg::select(grid(), 1, 4); }), "select: index 4 is out of range for axis 1 of size 4 (shape [3, 4])");
}
