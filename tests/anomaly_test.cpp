// Anomaly mode stops at the first NaN or infinity and names the op, its tape position and shapes.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

TEST(Anomaly, OffByDefaultAndNaNSpreadsSilently) {
  EXPECT_FALSE(tg::anomaly_enabled());
  auto x = tg::tensor({-1.0, 4.0}, tg::Dtype::f64).requires_grad(true);
  auto y = tg::sum(tg::sqrt(x));
  EXPECT_TRUE(std::isnan(y.item()));
}

TEST(Anomaly, ForwardNaNNamesTheOpAndPosition) {
  tg::AnomalyGuard anomaly;
  tg::Tape::current().clear();
  auto x = tg::tensor({-1.0, 4.0}, tg::Dtype::f64).requires_grad(true);
  auto h = x * 2.0;  // node 0
  try {
    auto y = tg::log(h);  // node 1: log(-2) is NaN
    FAIL() << "expected an anomaly error";
  } catch (const tg::Error& e) {
    EXPECT_STREQ(e.what(), "anomaly: log (node 1) produced NaN at [0] of its output [2]");
  }
}

TEST(Anomaly, BackwardInfinityNamesTheOp) {
  auto x = tg::tensor({0.0, 4.0}, tg::Dtype::f64).requires_grad(true);
  auto y = tg::sum(tg::sqrt(x));  // forward is finite: sqrt(0) = 0
  tg::AnomalyGuard anomaly;
  try {
    y.backward();
    FAIL() << "expected an anomaly error";
  } catch (const tg::Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("anomaly: backward of sqrt"), std::string::npos) << m;
    EXPECT_NE(m.find("inf at [0] of the gradient of input 0 [2]"), std::string::npos) << m;
  }
}

TEST(Anomaly, GuardRestoresThePreviousState) {
  {
    tg::AnomalyGuard on;
    EXPECT_TRUE(tg::anomaly_enabled());
    {
      tg::AnomalyGuard off(false);
      EXPECT_FALSE(tg::anomaly_enabled());
    }
    EXPECT_TRUE(tg::anomaly_enabled());
  }
  EXPECT_FALSE(tg::anomaly_enabled());
}
