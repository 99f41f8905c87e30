// Every "not supported", "there is no" and "is an error" sentence in docs/ is a claim about the
// library, and a claim nobody checks goes stale: docs/from-pytorch.md said "No double backward"
// long after double backward landed. Each test below shows the call failing (or the thing being
// absent) as the page says, and names the page. When the feature lands, the test fails: change
// the page, then the test.
//
// Claims shown by a snippet's output are checked there (docs.snippet.*), not again here:
//   tape.md, from-pytorch.md  a tensor recorded on one thread's tape in an op on another (tape_threads)
//   tape.md, errors.md        a second backward() of a released graph, grad() of a non-leaf,
//                             requires_grad on a non-leaf (errors_backward); an in-place change
//                             after recording (errors_inplace); shapes that cannot be broadcast or
//                             reshaped (errors_shapes)
//   from-pytorch.md           load_torch_state_dict refuses a mis-shaped model, changing nothing
//                             (from_pytorch_interop)
#include <cmath>
#include <gtest/gtest.h>

#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

#include <algorithm>
#include <string>
#include <vector>

#include "message_of.h"
#include "test_dir.h"

namespace tg = tapegrad;

namespace {
// Compile-time absence: true once someone adds the member, and the test then fails.
template <class T>
constexpr bool has_retain_grad = requires(T& t) { t.retain_grad(); };
template <class T>
constexpr bool has_device = requires(T& t) { t.device(); };
template <class D>
constexpr bool has_other_integer_dtype = requires { D::i32; } || requires { D::int32; } || requires { D::i16; };
template <class D>
constexpr bool has_integer_dtype_u8 = requires { D::u8; } || requires { D::i8; } || requires { D::boolean; };

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }
}  // namespace

// from-pytorch.md: "No type promotion. Both operands of a binary op must have the same dtype".
TEST(DocsClaims, FromPytorchNoTypePromotion) {
  const tg::Tensor a = tg::tensor({1.0, 2.0}), b = tg::tensor({1.0, 2.0}, tg::Dtype::f64);
  const std::string what = message_of([&] { (void)(a + b); });
  EXPECT_TRUE(contains(what, "float32") && contains(what, "float64")) << what;
  EXPECT_EQ((a * 2.0).dtype(), tg::Dtype::f32) << "a double scalar never changes the tensor's dtype";
}

// from-pytorch.md: "there is no retain_grad(); asking a non-leaf for its gradient is an error";
// tape.md: "grad() on it is an error".
TEST(DocsClaims, FromPytorchNoRetainGradAndNonLeafGradIsAnError) {
  static_assert(!has_retain_grad<tg::Tensor>, "Tensor::retain_grad exists now: update docs/from-pytorch.md");
  tg::Tensor x = tg::tensor({1.0, 2.0}).requires_grad(true);
  tg::Tensor h = x * 3.0;
  tg::sum(h).backward();
  EXPECT_TRUE(contains(message_of([&] { (void)h.grad(); }), "not a leaf"));
}

// from-pytorch.md: "No views with strides: reshape, flatten, unsqueeze, squeeze and detach share
// the storage ..., while slice, select, transpose, permute, expand and broadcast_to copy."
// (expand and broadcast_to to the tensor's own shape are issue 26 item 13, tested with the ops.)
TEST(DocsClaims, FromPytorchWhichShapeOpsShareAndWhichCopy) {
  const auto shares = [](tg::Tensor x, const tg::Tensor& y) {
    x.fill_(5.0);
    return y.to_vector<double>().front() == 5.0;
  };
  const auto fresh = [] { return tg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}); };
  tg::Tensor x = fresh();
  EXPECT_TRUE(shares(x, tg::reshape(x, {3, 2})));
  x = fresh();
  EXPECT_TRUE(shares(x, tg::flatten(x)));
  x = fresh();
  EXPECT_TRUE(shares(x, tg::unsqueeze(x, 0)));
  x = fresh();
  EXPECT_TRUE(shares(x, tg::squeeze(tg::unsqueeze(x, 0), 0)));
  x = fresh();
  EXPECT_TRUE(shares(x, x.detach()));
  x = fresh();
  EXPECT_FALSE(shares(x, tg::slice(x, 1, 0, 2)));
  x = fresh();
  EXPECT_FALSE(shares(x, tg::select(x, 0, 0)));
  x = fresh();
  EXPECT_FALSE(shares(x, tg::transpose(x)));
  x = fresh();
  EXPECT_FALSE(shares(x, tg::permute(x, {1, 0})));
  x = fresh();
  EXPECT_FALSE(shares(x, tg::expand(tg::unsqueeze(x, 0), {2, 2, 3})));
  x = fresh();
  EXPECT_FALSE(shares(x, tg::broadcast_to(x, tg::Shape({4, 2, 3}))));
}

// from-pytorch.md: "No devices. tg::Dtype::i64 tensors hold indices and labels ... an op that
// computes refuses one with an error naming the op, and requires_grad(true) on one is an error
// ... there are no other integer or boolean dtypes".
TEST(DocsClaims, FromPytorchNoDevicesInt64OnlyIndexes) {
  static_assert(!has_device<tg::Tensor>, "Tensor::device exists now: update docs/from-pytorch.md");
  static_assert(!has_integer_dtype_u8<tg::Dtype> && !has_other_integer_dtype<tg::Dtype>,
                "another integer Dtype exists now: update docs/from-pytorch.md");
  EXPECT_EQ(tg::dtype_name(tg::Dtype::f32), "float32");
  EXPECT_EQ(tg::dtype_name(tg::Dtype::f64), "float64");
  EXPECT_EQ(tg::dtype_name(tg::Dtype::i64), "int64");
  const tg::Tensor idx = tg::tensor({1, 2}, tg::Dtype::i64);
  const std::string what = message_of([&] { tg::exp(idx); });
  EXPECT_TRUE(contains(what, "exp") && contains(what, "int64")) << what;
  const std::string grad = message_of([&] { idx.requires_grad(true); });
  EXPECT_TRUE(contains(grad, "requires_grad") && contains(grad, "int64")) << grad;
  const std::string nan = message_of([&] { tg::tensor({std::nan("")}).to(tg::Dtype::i64); });
  EXPECT_TRUE(contains(nan, "no int64 value")) << nan;
}

// from-pytorch.md: "tg::io::load_safetensors reads F32, F64, BF16 and I64 tensors, and gives
// num_batches_tracked as an int64 tensor".
TEST(DocsClaims, FromPytorchLoadSafetensorsReadsI64AsInt64) {
  tapegrad_test::TestDir dir("docs_claims_");
  tg::nn::Sequential net{tg::nn::BatchNorm1d(2)};
  const std::string path = dir.file("bn.safetensors");
  tg::io::save_torch_state_dict(net, path);  // num_batches_tracked as I64, as PyTorch writes it
  bool found = false;
  for (const auto& [name, t] : tg::io::load_safetensors(path))
    if (name == "0.num_batches_tracked") {
      found = true;
      EXPECT_EQ(t.dtype(), tg::Dtype::i64);
    }
  EXPECT_TRUE(found);
  EXPECT_NO_THROW(tg::io::load_torch_state_dict(net, path));
}

// activations.md: step "has no tapegrad op because it cannot be trained by gradients".
TEST(DocsClaims, ActivationsStepHasNoOp) {
  for (const tg::OpEntry& e : tg::op_registry())
    EXPECT_TRUE(e.name != "step" && e.name != "heaviside") << e.name << " is an op now: update docs/activations.md";
}

// tape.md and higher-order.md: "create_graph implies retain_graph"; without it, a gradient is a
// plain value (no graph behind it), so differentiating it again is an error.
TEST(DocsClaims, TapeAGradientWithoutCreateGraphIsAPlainValue) {
  tg::Tensor x = tg::tensor({0.5, -1.0}, tg::Dtype::f64).requires_grad(true);
  std::vector<tg::Tensor> g = tg::grad(tg::sum(tg::tanh(x) * x), {x});
  EXPECT_FALSE(g[0].requires_grad());
  std::vector<tg::Tensor> gg = tg::grad(tg::sum(tg::tanh(x) * x), {x}, {.create_graph = true});
  EXPECT_TRUE(gg[0].requires_grad()) << "higher-order.md: create_graph records the backward";
  EXPECT_NO_THROW(tg::grad(tg::sum(gg[0]), {x}));
}
