// Sizes that do not fit: every path that builds a shape from outside the library checks it, and
// an allocation the machine cannot satisfy is a tg::Error naming the op, the shape and the bytes.
#include <gtest/gtest.h>

#include <string>
#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {
constexpr int64_t kHuge = int64_t{1} << 40;
}  // namespace

TEST(Limits, ElementCountsThatOverflowAreErrorsNamingTheOpAndTheShape) {
  struct Case {
    const char* op;
    void (*call)();
  };
  const Case cases[] = {
      {"zeros", [] { tg::zeros({kHuge, kHuge}); }},
      {"ones", [] { tg::ones({kHuge, kHuge, 4}); }},
      {"full", [] { tg::full({kHuge, kHuge}, 1.0); }},
      {"empty", [] { tg::empty({kHuge, kHuge}, tg::Dtype::f64); }},
      {"randn", [] {
         tg::Generator g(1);
         tg::randn({kHuge, kHuge}, g);
       }},
      {"from_vector", [] { tg::from_vector(std::vector<double>{}, {kHuge, kHuge}); }},
      {"reshape", [] { tg::reshape(tg::zeros({4}), {kHuge, kHuge, -1}); }},
      {"broadcast_to", [] { tg::broadcast_to(tg::zeros({1}), tg::Shape{kHuge, kHuge}); }},
  };
  for (const Case& c : cases) {
    const std::string m = message_of(c.call);
    EXPECT_NE(m.find(std::string(c.op) + ":"), std::string::npos) << c.op << ": " << m;
    EXPECT_NE(m.find("1099511627776"), std::string::npos) << c.op << " does not name the shape: " << m;
  }
}

TEST(Limits, NegativeSizesAreErrors) {
  EXPECT_NE(message_of([] { tg::zeros({2, -3}); }).find("zeros: negative size -3 in shape [2, -3]"), std::string::npos);
  EXPECT_NE(message_of([] { tg::one_hot({0}, -2); }).find("negative size -2"), std::string::npos);
  EXPECT_NE(message_of([] { tg::reshape(tg::zeros({4}), {-2, -2}); }).find("reshape:"), std::string::npos);
}

TEST(Limits, ByteCountsThatOverflowAreErrors) {
  // 2^61 elements fit an int64 count, but not in bytes.
  const std::string m = message_of([] { tg::zeros({int64_t{1} << 61}, tg::Dtype::f64); });
  EXPECT_NE(m.find("zeros: shape [2305843009213693952] of float64 needs more bytes"), std::string::npos) << m;
}

// 4 TiB: more than this machine (or a CI runner) has, so the allocator refuses, and the process
// goes on working afterwards.
TEST(Limits, AnAllocationThatFailsIsAnErrorAndTheProcessGoesOn) {
  const std::string m = message_of([] { tg::zeros({int64_t{1} << 20, int64_t{1} << 20}); });
  EXPECT_NE(m.find("zeros: cannot allocate 4398046511104 bytes for shape [1048576, 1048576] of float32"),
            std::string::npos)
      << m;
  tg::Tensor x = tg::ones({3}).requires_grad(true);
  tg::sum(x * x).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{2, 2, 2}));
}
