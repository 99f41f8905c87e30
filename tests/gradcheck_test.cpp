// gradcheck never passes vacuously: a check that compares nothing, or finds no node where nodes
// were asked for, is an error or a failed report, never PASSED.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
tg::Tensor sum_sq(const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * in[0]); }
tg::Tensor vec() { return tg::tensor({0.5, -1.5}, tg::Dtype::f64); }
}  // namespace

TEST(Gradcheck, MisusesThatWouldCheckNothingAreErrors) {
  EXPECT_THROW(tg::gradcheck(sum_sq, {}), tg::Error) << "no inputs";
  tg::GradcheckOptions out_of_range;
  out_of_range.skip_inputs = {3};
  EXPECT_THROW(tg::gradcheck(sum_sq, {vec()}, out_of_range), tg::Error) << "skip_inputs names no input";
  tg::GradcheckOptions no_projections;
  no_projections.projections = 0;
  EXPECT_THROW(tg::gradcheck(sum_sq, {vec()}, no_projections), tg::Error) << "zero projections";
}

TEST(Gradcheck, AReportThatComparedNothingIsNotPassed) {
  tg::GradcheckOptions all_skipped;
  all_skipped.skip_inputs = {0};
  tg::GradcheckReport r = tg::gradcheck(sum_sq, {vec()}, all_skipped);
  EXPECT_FALSE(r.ok) << r;
  EXPECT_EQ(r.elements_compared, 0);
  EXPECT_NE(r.str().find("nothing proven"), std::string::npos) << r;

  tg::GradcheckReport empty = tg::gradcheck(sum_sq, {tg::zeros({0}, tg::Dtype::f64)});
  EXPECT_FALSE(empty.ok) << "an input without elements compares nothing\n" << empty;

  // The identity records no node: with check_nodes on, there was nothing to check per node.
  tg::GradcheckReport identity = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return in[0]; }, {vec()});
  EXPECT_FALSE(identity.ok) << identity;
  tg::GradcheckOptions whole_only;
  whole_only.check_nodes = false;
  EXPECT_TRUE(tg::gradcheck([](const std::vector<tg::Tensor>& in) { return in[0]; }, {vec()}, whole_only).ok);
}

TEST(Gradcheck, PassingChecksCountWhatTheyCompared) {
  tg::GradcheckReport r = tg::gradcheck(sum_sq, {vec()});
  EXPECT_TRUE(r.ok) << r;
  EXPECT_GT(r.elements_compared, 2);  // the function's 2 elements, and the nodes' inputs
  EXPECT_TRUE(r.vacuous.empty());
}

TEST(Gradcheck, NodesOfAReleasedGraphAreAnErrorNotAPass) {
  tg::Tensor x = vec().requires_grad(true);
  tg::Tensor loss = tg::sum(x * x);
  EXPECT_TRUE(tg::gradcheck_nodes(loss).ok);
  loss.backward();
  try {
    tg::gradcheck_nodes(loss);
    FAIL() << "gradcheck_nodes checked a released graph";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("was released"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tg::gradcheck_nodes(x), tg::Error) << "a leaf has no nodes";
}

// gradcheck runs backward once per Jacobian row: the leaves the function captures must not keep
// those gradients (the README's example would double b.grad()).
TEST(Gradcheck, LeavesTheGradientsOfCapturedLeavesAsTheyWere) {
  tg::Tensor b = tg::tensor({0.35, 0.35}, tg::Dtype::f64).requires_grad(true);
  tg::Tensor untouched = tg::tensor({1.0}, tg::Dtype::f64).requires_grad(true);
  auto fn = [&](const std::vector<tg::Tensor>& in) { return tg::sigmoid(in[0] + b) * untouched; };
  tg::sum(fn({vec()})).backward();
  const std::vector<double> before = b.grad().to_vector<double>();
  untouched.set_grad(tg::Tensor());
  ASSERT_FALSE(untouched.has_grad());
  tg::GradcheckReport r = tg::gradcheck(fn, {vec()});
  EXPECT_TRUE(r.ok) << r;
  EXPECT_EQ(b.grad().to_vector<double>(), before);
  EXPECT_FALSE(untouched.has_grad()) << "a leaf without a gradient got one from gradcheck";
}
