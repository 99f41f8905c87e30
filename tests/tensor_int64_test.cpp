// int64 tensors (Dtype::i64), as PyTorch's: they hold indices and labels. Creation, conversion,
// element access, printing and the indexing ops take them; every op that computes refuses them
// by name; they never require gradients; a float with no int64 value is an error.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "message_of.h"
#include "tapegrad/tapegrad.h"
#include "test_dir.h"

namespace tg = tapegrad;

namespace {
bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

TEST(TensorInt64, CreationElementAccessAndPrinting) {
  const tg::Tensor t = tg::tensor({{1, 4, 2}, {3, 0, 0}}, tg::Dtype::i64);
  EXPECT_EQ(t.dtype(), tg::Dtype::i64);
  EXPECT_EQ(t.shape(), tg::Shape({2, 3}));
  EXPECT_EQ(t.to_vector<int64_t>(), (std::vector<int64_t>{1, 4, 2, 3, 0, 0}));
  EXPECT_EQ(t.at({0, 1}), 4.0);
  EXPECT_EQ(t.data<int64_t>()[3], 3);
  EXPECT_EQ(tg::dtype_size(tg::Dtype::i64), 8u);
  EXPECT_EQ(tg::tensor({7, 8}, tg::Dtype::i64).str(), "tensor([7, 8], shape=[2], dtype=int64)");
  EXPECT_EQ(tg::full({2}, 5, tg::Dtype::i64).to_vector<int64_t>(), (std::vector<int64_t>{5, 5}));
  EXPECT_EQ(tg::zeros({3}, tg::Dtype::i64).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0}));
  // Values beyond 2^53, which a double cannot hold exactly, survive from_vector and to_vector.
  const int64_t big = (int64_t{1} << 62) + 1;
  const tg::Tensor b = tg::from_vector(std::vector<int64_t>{big, -big}, {2});
  EXPECT_EQ(b.dtype(), tg::Dtype::i64);
  EXPECT_EQ(b.to_vector<int64_t>(), (std::vector<int64_t>{big, -big}));
  EXPECT_NE(b.str().find("[4611686018427387905, -4611686018427387905]"), std::string::npos) << b.str();
  EXPECT_TRUE(contains(message_of([&] { t.data<float>(); }), "int64"));
}

TEST(TensorInt64, ConversionTruncatesAndRefusesValuesWithoutAnInt64) {
  const tg::Tensor x = tg::tensor({2.7, -2.7, 0.0});
  EXPECT_EQ(x.to(tg::Dtype::i64).to_vector<int64_t>(), (std::vector<int64_t>{2, -2, 0}));  // toward zero, as C++ and PyTorch
  EXPECT_EQ(tg::tensor({3, -1}, tg::Dtype::i64).to(tg::Dtype::f64).to_vector<double>(), (std::vector<double>{3, -1}));
  for (double bad : {std::nan(""), double(INFINITY), -double(INFINITY), 1e19}) {
    const std::string what = message_of([&] { tg::tensor({1.0, bad}).to(tg::Dtype::i64); });
    EXPECT_TRUE(contains(what, "to_dtype") && contains(what, "element 1") && contains(what, "no int64 value")) << what;
    EXPECT_TRUE(contains(message_of([&] { tg::tensor({bad}, tg::Dtype::i64); }), "no int64 value"));
    EXPECT_TRUE(contains(message_of([&] { tg::tensor({bad}).to_vector<int64_t>(); }), "to_vector"));
    tg::Tensor dst = tg::zeros({1}, tg::Dtype::i64);
    EXPECT_TRUE(contains(message_of([&] { dst.copy_(tg::tensor({bad}, tg::Dtype::f64)); }), "copy_"));
    EXPECT_EQ(dst.to_vector<int64_t>()[0], 0);
  }
  // An int64 result carries no gradient, as in PyTorch; the float input keeps its own.
  const tg::Tensor w = tg::tensor({1.5, 2.5}).requires_grad(true);
  const tg::Tensor i = w.to(tg::Dtype::i64);
  EXPECT_FALSE(i.requires_grad());
  EXPECT_TRUE(i.is_leaf());
}

TEST(TensorInt64, NeverRequiresGradients) {
  const tg::Tensor t = tg::tensor({1, 2}, tg::Dtype::i64);
  const std::string what = message_of([&] { t.requires_grad(true); });
  EXPECT_TRUE(contains(what, "requires_grad") && contains(what, "int64") && contains(what, "[2]")) << what;
  EXPECT_FALSE(t.requires_grad());
  EXPECT_NO_THROW(t.requires_grad(false));
}

// Every op that computes names itself and the dtype; no op reads the integers as doubles.
TEST(TensorInt64, OpsThatComputeRefuseItByName) {
  const tg::Tensor i = tg::tensor({{1, 2}, {3, 4}}, tg::Dtype::i64);
  const tg::Tensor f = tg::ones({2, 2});
  struct Case {
    const char* op;
    std::function<void()> call;
  };
  const std::vector<Case> cases = {
      {"add", [&] { (void)tg::add(i, i); }},          {"mul", [&] { (void)tg::mul(f, i); }},
      {"exp", [&] { (void)tg::exp(i); }},             {"matmul", [&] { (void)tg::matmul(i, i); }},
      {"sum", [&] { (void)tg::sum(i); }},             {"relu", [&] { (void)tg::relu(i); }},
      {"transpose", [&] { (void)tg::transpose(i); }}, {"softmax", [&] { (void)tg::softmax(i, 1); }},
  };
  for (const Case& c : cases) {
    const std::string what = message_of(c.call);
    // The op's own name opens the message (not a kernel's generic dtype error).
    EXPECT_TRUE(what.rfind(std::string(c.op) + ": input", 0) == 0 && contains(what, "int64")) << c.op << ": " << what;
  }
  tg::Tensor m = tg::tensor({1, 2}, tg::Dtype::i64);
  EXPECT_TRUE(contains(message_of([&] { m.add_(m); }), "add_"));
  EXPECT_TRUE(contains(message_of([&] { m.mul_(2.0); }), "mul_"));
  m.fill_(7);
  EXPECT_EQ(m.to_vector<int64_t>(), (std::vector<int64_t>{7, 7}));
  // What only moves or copies the integers takes them.
  EXPECT_EQ(m.clone().to_vector<int64_t>(), (std::vector<int64_t>{7, 7}));
  EXPECT_EQ(tg::reshape(i, {4}).to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, 4}));
}

// The indexing ops take int64 tensors where they take index vectors, with the same results and
// gradients.
TEST(TensorInt64, IndexingOpsTakeInt64Tensors) {
  const tg::Tensor x = tg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor idx = tg::tensor({2, 0, 2}, tg::Dtype::i64);
  const tg::Tensor a = tg::index_select(x, 1, idx);
  EXPECT_EQ(a.to_vector<double>(), tg::index_select(x, 1, std::vector<int64_t>{2, 0, 2}).to_vector<double>());
  tg::sum(a).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 0, 2, 1, 0, 2}));
  const tg::Tensor rows = tg::tensor({1, 0}, tg::Dtype::i64);
  EXPECT_EQ(tg::gather(x, 1, rows).to_vector<double>(), (std::vector<double>{2, 4}));
  EXPECT_EQ(tg::one_hot(rows, 3).to_vector<float>(), (std::vector<float>{0, 1, 0, 1, 0, 0}));
  // Indices must be a rank-1 int64 tensor.
  const std::string what = message_of([&] { tg::index_select(x, 1, tg::tensor({1.0, 0.0})); });
  EXPECT_TRUE(contains(what, "index_select") && contains(what, "int64") && contains(what, "float32")) << what;
  EXPECT_TRUE(contains(message_of([&] { tg::gather(x, 1, tg::tensor({{1, 0}}, tg::Dtype::i64)); }), "rank-1"));
  // Out of range is the vector overload's error.
  EXPECT_TRUE(contains(message_of([&] { tg::index_select(x, 1, tg::tensor({3}, tg::Dtype::i64)); }), "3"));
}

// softmax_cross_entropy takes int64 labels, as PyTorch's cross_entropy: the same loss and
// gradient as float labels and as a label vector.
TEST(TensorInt64, SoftmaxCrossEntropyTakesInt64Labels) {
  for (tg::Dtype dtype : {tg::Dtype::f32, tg::Dtype::f64}) {
    const tg::Tensor logits = tg::tensor({{0.5, -1.0, 2.0}, {1.0, 0.0, -0.5}}, dtype);
    const tg::Tensor a = logits.detach().clone().requires_grad(true), b = logits.detach().clone().requires_grad(true);
    const tg::Tensor la = tg::softmax_cross_entropy(a, tg::tensor({2, 0}, tg::Dtype::i64));
    const tg::Tensor lb = tg::softmax_cross_entropy(b, std::vector<int64_t>{2, 0});
    EXPECT_EQ(la.item(), lb.item());
    la.backward();
    lb.backward();
    EXPECT_EQ(a.grad().to_vector<double>(), b.grad().to_vector<double>());
  }
  const tg::Tensor logits = tg::zeros({2, 3});
  EXPECT_TRUE(contains(message_of([&] { tg::softmax_cross_entropy(logits, tg::tensor({3, 0}, tg::Dtype::i64)); }), "3"));
  EXPECT_TRUE(contains(message_of([&] { tg::softmax_cross_entropy(logits, tg::zeros({2, 3}, tg::Dtype::i64)); }),
                       "rank 1"));
}

// A compiled step takes int64 labels as an input, and replays equal to eager with new labels.
TEST(TensorInt64, CompiledStepTakesInt64Labels) {
  tg::Tensor w = tg::tensor({{0.1, -0.2, 0.3}, {0.4, 0.5, -0.6}}).requires_grad(true);
  auto loss_fn = [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(tg::matmul(in[0], w), in[1]); };
  const tg::Tensor x = tg::tensor({{1.0, 2.0}, {-1.0, 0.5}});
  tg::Compiled step = tg::compile(loss_fn, {x, tg::tensor({0, 1}, tg::Dtype::i64)});
  for (const std::vector<int64_t>& labels : {std::vector<int64_t>{2, 1}, std::vector<int64_t>{0, 0}}) {
    const tg::Tensor lab = tg::from_vector(labels, {2});
    w.zero_grad();
    step({x, lab}).backward();
    const std::vector<float> compiled = w.grad().to_vector<float>();
    w.zero_grad();
    const tg::Tensor eager = loss_fn({x, lab});
    eager.backward();
    EXPECT_EQ(compiled, w.grad().to_vector<float>());
  }
}

// safetensors: I64 tensors are written and read back as int64, every bit of them.
TEST(TensorInt64, SafetensorsRoundTripsI64) {
  tapegrad_test::TestDir dir("int64_");
  const int64_t big = std::numeric_limits<int64_t>::max();
  const tg::Tensor t = tg::from_vector(std::vector<int64_t>{big, -big - 1, 3}, {3});
  const std::string path = dir.file("ints.safetensors");
  tg::io::save_safetensors(path, {{"ids", t}});
  const tg::NamedTensors back = tg::io::load_safetensors(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].second.dtype(), tg::Dtype::i64);
  EXPECT_EQ(back[0].second.to_vector<int64_t>(), t.to_vector<int64_t>());
}

