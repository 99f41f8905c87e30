// tg::AutocastGuard: products with bfloat16 operands and float32 accumulation; everything else,
// the parameters and the gradients in float32. Both paths are tested on every machine: the
// processor's bfloat16 units where it has them, and the float32 fallback (forced with
// set_bf16_hardware(false)), which any machine runs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>

#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
bool same_bits(const tg::Tensor& a, const tg::Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() &&
         std::memcmp(a.raw_data(), b.raw_data(), static_cast<size_t>(a.numel()) * tg::dtype_size(a.dtype())) == 0;
}
tg::Tensor rounded(const tg::Tensor& x) { return x.to(tg::Dtype::bf16).to(tg::Dtype::f32); }
double max_abs_diff(const tg::Tensor& a, const tg::Tensor& b) {
  return tg::max(tg::abs(a.to(tg::Dtype::f64) - b.to(tg::Dtype::f64))).item();
}

// Runs the body on each path the machine has: the fallback always, the bfloat16 units if present.
struct BothPaths : ::testing::TestWithParam<bool> {
  void SetUp() override {
    if (GetParam() && !hardware_present()) GTEST_SKIP() << "this processor has no bfloat16 units: " << tg::bf16_path();
    tg::set_bf16_hardware(GetParam());
  }
  void TearDown() override { tg::set_bf16_hardware(true); }
  static bool hardware_present() {
    tg::set_bf16_hardware(true);
    return tg::bf16_hardware();
  }
};
}  // namespace

TEST_P(BothPaths, MatmulTakesBfloat16OperandsAndAccumulatesInFloat32) {
  tg::Generator gen(3);
  const tg::Tensor a = tg::randn({37, 300}, gen), b = tg::randn({300, 29}, gen);
  tg::Tensor y;
  {
    tg::AutocastGuard guard(tg::Dtype::bf16);
    y = tg::matmul(a, b);
  }
  EXPECT_EQ(y.dtype(), tg::Dtype::f32);
  const tg::Tensor exact = tg::matmul(rounded(a).to(tg::Dtype::f64), rounded(b).to(tg::Dtype::f64));
  if (GetParam()) {
    // The units multiply the rounded values exactly and add in float32, in their own order.
    EXPECT_LT(max_abs_diff(y, exact), 1e-4);
  } else {
    // The fallback is the float32 product of the rounded values, bit for bit.
    EXPECT_TRUE(same_bits(y, tg::matmul(rounded(a), rounded(b))));
  }
  EXPECT_GT(max_abs_diff(y, tg::matmul(a, b)), 1e-3) << "the operands were not rounded";
  EXPECT_LT(max_abs_diff(y, tg::matmul(a, b)), 0.5);
}

TEST_P(BothPaths, GradientsFlowInFloat32ThroughTheBfloat16Products) {
  tg::Generator gen(4);
  const tg::Tensor a = tg::randn({8, 16}, gen).requires_grad(true), w = tg::randn({16, 5}, gen).requires_grad(true);
  tg::Tensor loss;
  {
    tg::AutocastGuard guard(tg::Dtype::bf16);
    loss = tg::sum(tg::tanh(tg::matmul(a, w)));
  }
  loss.backward();  // outside the guard: the nodes keep the path their forward took
  EXPECT_EQ(a.grad().dtype(), tg::Dtype::f32);
  EXPECT_EQ(w.grad().dtype(), tg::Dtype::f32);
  // dW = A^T g, with A and g rounded as the products round them.
  const tg::Tensor y = tg::matmul(rounded(a.detach()), rounded(w.detach()));
  const tg::Tensor g = 1.0 - tg::tanh(y) * tg::tanh(y);
  EXPECT_LT(max_abs_diff(w.grad(), tg::matmul(tg::transpose(rounded(a.detach())), rounded(g))), 1e-4);
  EXPECT_LT(max_abs_diff(a.grad(), tg::matmul(rounded(g), tg::transpose(rounded(w.detach())))), 1e-4);
}

TEST_P(BothPaths, Conv2dAndItsGradientsTakeBfloat16Operands) {
  tg::Generator gen(5);
  const tg::Tensor x = tg::randn({2, 3, 9, 9}, gen).requires_grad(true);
  const tg::Tensor w = tg::randn({4, 3, 3, 3}, gen).requires_grad(true), bias = tg::randn({4}, gen).requires_grad(true);
  tg::Tensor y;
  {
    tg::AutocastGuard guard(tg::Dtype::bf16);
    y = tg::conv2d(x, w, bias, {.padding = 1});
  }
  tg::sum(y * y).backward();
  // The reference: float64 on the rounded operands, its backward fed the upstream 2y rounded, as
  // the gradient products round it.
  const tg::Tensor x64 = rounded(x.detach()).to(tg::Dtype::f64).requires_grad(true);
  const tg::Tensor w64 = rounded(w.detach()).to(tg::Dtype::f64).requires_grad(true);
  const tg::Tensor ref = tg::conv2d(x64, w64, bias.detach().to(tg::Dtype::f64), {.padding = 1});
  ref.backward(rounded(2.0 * y.detach()).to(tg::Dtype::f64));
  EXPECT_LT(max_abs_diff(x.grad(), x64.grad()), 1e-3 * (1 + tg::max(tg::abs(x64.grad())).item()));
  EXPECT_LT(max_abs_diff(w.grad(), w64.grad()), 1e-3 * (1 + tg::max(tg::abs(w64.grad())).item()));
  EXPECT_EQ(y.dtype(), tg::Dtype::f32);
  EXPECT_LT(max_abs_diff(y, ref), 1e-4);
  EXPECT_GT(max_abs_diff(y, tg::conv2d(x.detach(), w.detach(), bias.detach(), {.padding = 1})), 1e-4);
  EXPECT_EQ(x.grad().dtype(), tg::Dtype::f32);
  EXPECT_EQ(bias.grad().dtype(), tg::Dtype::f32);
  // The bias gradient is a float32 sum, not a product: 2 y summed per channel.
  EXPECT_LT(max_abs_diff(bias.grad(), tg::sum(2.0 * y.detach(), {0, 2, 3})), 1e-3);
}

TEST_P(BothPaths, ACompiledStepReplaysTheEagerAutocastStep) {
  tg::Generator gen(6);
  tg::nn::Sequential net{tg::nn::Linear(12, 20), tg::nn::ReLU(), tg::nn::Linear(20, 3)};
  const tg::Tensor x = tg::randn({16, 12}, gen), labels = tg::tensor({0, 1, 2, 1, 0, 2, 1, 1, 0, 0, 2, 2, 1, 0, 1, 2});
  auto loss_of = [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(net(in[0]), in[1]); };
  tg::AutocastGuard guard(tg::Dtype::bf16);
  tg::Compiled step = tg::compile(loss_of, {x, labels});
  for (auto& p : net.parameters()) p.zero_grad();
  tg::Tensor eager = loss_of({x, labels});
  eager.backward();
  std::vector<tg::Tensor> eager_grads;
  for (auto& p : net.parameters()) eager_grads.push_back(p.grad().clone()), p.zero_grad();
  tg::Tensor replay = step({x, labels});
  replay.backward();
  EXPECT_TRUE(same_bits(replay.detach(), eager.detach()));
  for (size_t i = 0; i < eager_grads.size(); ++i) EXPECT_TRUE(same_bits(net.parameters()[i].grad(), eager_grads[i])) << i;
}

INSTANTIATE_TEST_SUITE_P(Autocast, BothPaths, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "bf16_units" : "float32_fallback"; });

TEST(Autocast, Float64AndOtherOpsAreLeftAlone) {
  tg::Generator gen(7);
  const tg::Tensor a = tg::randn({5, 6}, gen, tg::Dtype::f64), b = tg::randn({6, 4}, gen, tg::Dtype::f64);
  const tg::Tensor c = tg::randn({5, 6}, gen);
  tg::AutocastGuard guard(tg::Dtype::bf16);
  EXPECT_TRUE(tg::autocast_enabled());
  EXPECT_TRUE(same_bits(tg::matmul(a, b), [&] {
    tg::AutocastGuard off(tg::Dtype::f32);
    EXPECT_FALSE(tg::autocast_enabled());
    return tg::matmul(a, b);
  }()));
  EXPECT_TRUE(tg::autocast_enabled());
  const tg::Tensor e = tg::exp(c);
  EXPECT_EQ(e.dtype(), tg::Dtype::f32);
  EXPECT_GT(max_abs_diff(e, tg::exp(rounded(c))), 0.0) << "exp must not round its input";
}

TEST(Autocast, GuardsNestAndRestoreAndRefuseOtherDtypes) {
  EXPECT_FALSE(tg::autocast_enabled());
  {
    tg::AutocastGuard on(tg::Dtype::bf16);
    {
      tg::AutocastGuard off(tg::Dtype::f32);
      EXPECT_FALSE(tg::autocast_enabled());
    }
    EXPECT_TRUE(tg::autocast_enabled());
  }
  EXPECT_FALSE(tg::autocast_enabled());
  const std::string what = message_of([] { tg::AutocastGuard g(tg::Dtype::f64); });
  EXPECT_TRUE(contains(what, "AutocastGuard") && contains(what, "float64")) << what;
}

TEST(Autocast, GradcheckRefusesToRunUnderIt) {
  const tg::Tensor x = tg::tensor({1.0, 2.0}, tg::Dtype::f64);
  tg::AutocastGuard guard(tg::Dtype::bf16);
  const auto f = [](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * in[0]); };
  for (const std::string& what : {message_of([&] { tg::gradcheck(f, {x}); }), message_of([&] { tg::gradgradcheck(f, {x}); })})
    EXPECT_TRUE(contains(what, "AutocastGuard") && contains(what, "bfloat16") && contains(what, "outside the guard"))
        << what;
}

// Until set_bf16_hardware is called (ctest runs each test in a process of its own), the units are
// used where they are faster than float32: AMX, or AVX512-BF16 on AMD; not AVX512-BF16 alone on
// Intel, where they measured half as fast. Read from the processor's own flags.
TEST(Autocast, UsesTheUnitsByDefaultOnlyWhereTheyPay) {
  std::ifstream cpuinfo("/proc/cpuinfo");
  if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo to read the processor's flags from";
  std::string line, flags, vendor;
  while (std::getline(cpuinfo, line) && (flags.empty() || vendor.empty())) {
    if (line.rfind("flags", 0) == 0) flags = line + " ";
    if (line.rfind("vendor_id", 0) == 0) vendor = line;
  }
  if (contains(tg::bf16_path(), "built without oneDNN")) {
    EXPECT_FALSE(tg::bf16_hardware());
    return;
  }
  const bool units = contains(flags, " avx512_bf16 ") || contains(flags, " amx_bf16 ");
  const bool pays = contains(flags, " amx_bf16 ") || contains(vendor, "AuthenticAMD");
  EXPECT_EQ(tg::bf16_hardware(), units && pays) << vendor << "; " << tg::bf16_path();
  if (units && !pays) {
    EXPECT_TRUE(contains(tg::bf16_path(), "set_bf16_hardware(true) uses it")) << tg::bf16_path();
  }
}

TEST(Autocast, SaysWhichPathTheProductsTake) {
  tg::set_bf16_hardware(false);
  EXPECT_FALSE(tg::bf16_hardware());
  EXPECT_TRUE(contains(tg::bf16_path(), "float32 on bfloat16-rounded values")) << tg::bf16_path();
  tg::set_bf16_hardware(true);
  if (tg::bf16_hardware()) EXPECT_TRUE(contains(tg::bf16_path(), "oneDNN on avx512_core")) << tg::bf16_path();
  else EXPECT_TRUE(contains(tg::bf16_path(), "float32 on bfloat16-rounded values")) << tg::bf16_path();
}

TEST(Autocast, AnMlpTrainsWithFloat32MasterWeights) {
  tg::Generator gen(8);
  tg::nn::Sequential net{tg::nn::Linear(4, 32), tg::nn::Tanh(), tg::nn::Linear(32, 2)};
  tg::optim::Adam opt(net.parameters(), {.lr = 0.02});
  const tg::Tensor x = tg::randn({64, 4}, gen);
  // Class 1 where x0 + x1 > 0: learnable to near-zero loss.
  const tg::Tensor labels = tg::greater(tg::sum(tg::slice(x, 1, 0, 2), 1), 0.0);
  double first = 0, last = 0;
  for (int i = 0; i < 300; ++i) {
    opt.zero_grad();
    tg::Tensor loss;
    {
      tg::AutocastGuard guard(tg::Dtype::bf16);
      loss = tg::softmax_cross_entropy(net(x), labels);
    }
    loss.backward();
    opt.step();
    (i == 0 ? first : last) = loss.item();
  }
  for (const tg::Tensor& p : net.parameters()) EXPECT_EQ(p.dtype(), tg::Dtype::f32);
  EXPECT_GT(first, 0.5);
  EXPECT_LT(last, 0.1);
  // The master weights keep float32's bits: not all of them are bfloat16 values.
  const tg::Tensor w = net.parameters()[0];
  EXPECT_FALSE(same_bits(w, rounded(w)));
}
