// bfloat16 tensors: storage, conversion rounding to nearest even, printing, safetensors BF16, and
// the clear errors of an op that computes.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include <tapegrad/tapegrad.h>

#include "message_of.h"
#include "test_dir.h"

namespace tg = tapegrad;

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity(), kNan = std::numeric_limits<double>::quiet_NaN();
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
uint16_t bits_of(double v) { return tg::tensor({v}).to(tg::Dtype::bf16).data<tg::bfloat16>()[0].bits; }
}  // namespace

TEST(TensorBf16, StoresTwoBytesAndNamesItsDtype) {
  const tg::Tensor b = tg::zeros({3, 5}, tg::Dtype::bf16);
  EXPECT_EQ(tg::dtype_size(tg::Dtype::bf16), 2u);
  EXPECT_EQ(tg::dtype_name(tg::Dtype::bf16), "bfloat16");
  EXPECT_FALSE(tg::is_floating(tg::Dtype::bf16));  // it does not compute: conversions do
  EXPECT_EQ(b.dtype(), tg::Dtype::bf16);
  EXPECT_EQ(static_cast<const char*>(b.raw_data()) + 30, reinterpret_cast<const char*>(b.data<tg::bfloat16>() + 15));
}

TEST(TensorBf16, RoundsToNearestEven) {
  EXPECT_EQ(bits_of(1.0), 0x3f80);
  EXPECT_EQ(bits_of(1.0 + 0x1p-8), 0x3f80);              // a tie: down to the even 1.0
  EXPECT_EQ(bits_of(1.0 + 3 * 0x1p-8), 0x3f82);          // a tie: up to the even 1 + 2^-6
  EXPECT_EQ(bits_of(1.0 + 0x1p-8 + 0x1p-20), 0x3f81);    // just above a tie: up
  EXPECT_EQ(bits_of(-1.0 - 0x1p-8 - 0x1p-20), 0xbf81);
  // From float64 in one rounding: through float32 this would be a tie (the 2^-40 lost) and
  // round down to 1.0.
  EXPECT_EQ(tg::tensor({1.0 + 0x1p-8 + 0x1p-40}, tg::Dtype::f64).to(tg::Dtype::bf16).data<tg::bfloat16>()[0].bits,
            0x3f81);
  EXPECT_EQ(tg::bfloat16(1.0 + 0x1p-8 + 0x1p-40).bits, 0x3f81);
  EXPECT_EQ(tg::bfloat16(static_cast<float>(1.0 + 0x1p-8 + 0x1p-40)).bits, 0x3f80);  // float32 lost it first
}

// From int64 in one rounding too: 2^62 + 2^54 + 1 is just above a tie of bfloat16 (whose step is
// 2^55 there), which a conversion through double (rounding to 2^62 + 2^54) would make a tie.
TEST(TensorBf16, RoundsInt64InOneRounding) {
  const int64_t v = (int64_t{1} << 62) + (int64_t{1} << 54) + 1;
  const tg::Tensor b = tg::from_vector(std::vector<int64_t>{v, -v}, {2}).to(tg::Dtype::bf16);
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{0x1p62 + 0x1p55, -(0x1p62 + 0x1p55)}));
}

// tg::dist broadcasts any dtype as bytes; a sum of bfloat16 across ranks is refused.
TEST(TensorBf16, DistributedSumRefusesIt) {
  tg::Tensor b = tg::ones({3}, tg::Dtype::bf16);
  EXPECT_NO_THROW(tg::dist::broadcast(b));
  const std::string what = message_of([&] { tg::dist::all_reduce_sum(b); });
  EXPECT_TRUE(contains(what, "all_reduce_sum") && contains(what, "bfloat16")) << what;
}

TEST(TensorBf16, KeepsInfinitiesNanAndOverflowsToInfinity) {
  const std::vector<double> v =
      tg::tensor({kInf, -kInf, kNan, 3.0e38, 3.4e38, 1e-40}).to(tg::Dtype::bf16).to_vector<double>();
  EXPECT_EQ(v[0], INFINITY);
  EXPECT_EQ(v[1], -INFINITY);
  EXPECT_TRUE(std::isnan(v[2]));  // a NaN is never turned into a number
  EXPECT_NEAR(v[3], 3.0e38, 3.0e38 * 0x1p-8);
  EXPECT_EQ(v[4], INFINITY);      // beyond bfloat16's largest finite value, 3.39e38
  EXPECT_EQ(v[5], 0x1p-133);  // subnormals are kept: 1e-40 is nearest to bfloat16's smallest, 2^-133
  // A float NaN with only low significand bits set would become an infinity if truncated.
  const float low_nan = std::bit_cast<float>(0x7f800001u);
  EXPECT_TRUE(std::isnan(static_cast<float>(tg::bfloat16(low_nan))));
}

TEST(TensorBf16, ConvertsBackExactlyAndPrints) {
  const tg::Tensor x = tg::tensor({0.1, -2.5, 1000.0}, tg::Dtype::f64);
  const tg::Tensor b = x.to(tg::Dtype::bf16);
  const std::vector<double> back = b.to(tg::Dtype::f32).to_vector<double>();
  EXPECT_EQ(back, b.to_vector<double>());
  EXPECT_EQ(back[0], 0.10009765625);  // 0.1 to 8 significant bits
  EXPECT_EQ(back[1], -2.5);
  EXPECT_EQ(back[2], 1000.0);
  EXPECT_EQ(b.str(), "tensor([0.100098, -2.5, 1000], shape=[3], dtype=bfloat16)");
  EXPECT_EQ(b.to(tg::Dtype::i64).to_vector<int64_t>(), (std::vector<int64_t>{0, -2, 1000}));
  EXPECT_EQ(tg::full({1}, 3.0, tg::Dtype::bf16).item(), 3.0);
}

TEST(TensorBf16, OpsThatComputeRefuseItByName) {
  const tg::Tensor b = tg::ones({2, 2}, tg::Dtype::bf16);
  const std::string exp = message_of([&] { tg::exp(b); });
  EXPECT_TRUE(contains(exp, "exp") && contains(exp, "bfloat16") && contains(exp, "AutocastGuard")) << exp;
  const std::string mm = message_of([&] { tg::matmul(b, b); });
  EXPECT_TRUE(contains(mm, "matmul") && contains(mm, "bfloat16")) << mm;
  const std::string grad = message_of([&] { b.requires_grad(true); });
  EXPECT_TRUE(contains(grad, "bfloat16")) << grad;
  // Converting a tensor that requires gradients gives a bfloat16 one that does not.
  const tg::Tensor w = tg::ones({2}).requires_grad(true);
  EXPECT_FALSE(w.to(tg::Dtype::bf16).requires_grad());
  EXPECT_EQ(tg::reshape(b, {4}).dtype(), tg::Dtype::bf16);  // a view of the storage
}

TEST(TensorBf16, SafetensorsWritesAndReadsBF16) {
  tapegrad_test::TestDir dir("bf16_");
  const std::string path = dir.file("b.safetensors");
  const tg::Tensor b = tg::tensor({1.5, -0.1, 65504.0, kNan}).to(tg::Dtype::bf16);
  tg::io::save_safetensors(path, {{"b", b}});
  const tg::NamedTensors back = tg::io::load_safetensors(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].second.dtype(), tg::Dtype::bf16);
  EXPECT_EQ(std::memcmp(back[0].second.raw_data(), b.raw_data(), 8), 0);
  // The header names the dtype as PyTorch's safetensors does, with 2 bytes per element.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  char buf[256] = {};
  const size_t got = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  const std::string header(buf + 8, got > 8 ? got - 8 : 0);
  EXPECT_TRUE(contains(header, "\"dtype\":\"BF16\"") && contains(header, "\"data_offsets\":[0,8]")) << header;
}
