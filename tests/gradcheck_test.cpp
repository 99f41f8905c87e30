// gradcheck never passes vacuously: a check that compares nothing, or finds no node where nodes
// were asked for, is an error or a failed report, never PASSED.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

#include <functional>
#include <sstream>

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

// A skipped input was neither perturbed nor compared: the report must say so, not "ok". Skipping
// names the function's inputs only; each node still checks all of its own inputs (the data input
// of `mul` included), as docs/gradcheck.md says.
TEST(Gradcheck, ASkippedInputIsReportedSkippedAndNodesStillCheckIt) {
  const tg::Tensor data = tg::tensor({2.0, 3.0}, tg::Dtype::f64);
  tg::GradcheckOptions skip_data;
  skip_data.skip_inputs = {1};
  tg::GradcheckReport r = tg::gradcheck([](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * in[1]); },
                                        {vec(), data}, skip_data);
  ASSERT_TRUE(r.ok) << r;
  ASSERT_EQ(r.inputs.size(), 2u);
  EXPECT_FALSE(r.inputs[0].skipped);
  EXPECT_TRUE(r.inputs[1].skipped);
  const std::string text = r.str();
  EXPECT_NE(text.find("input 1: skipped"), std::string::npos) << text;
  EXPECT_EQ(text.find("input 1: ok"), std::string::npos) << text;

  const tg::NodeCheck* mul = nullptr;
  for (const tg::NodeCheck& n : r.nodes)
    if (n.op == "mul") mul = &n;
  ASSERT_NE(mul, nullptr) << r;
  ASSERT_EQ(mul->inputs.size(), 2u);
  EXPECT_FALSE(mul->inputs[1].skipped) << "a node's inputs are not the function's: nothing is skipped there";
  // The function's 2 elements of input 0, then the mul node's 2 + 2 and the sum's 2.
  EXPECT_EQ(r.elements_compared, 8) << r;
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

namespace {
// y = 2x elementwise, whose backward is wrong for the second element only: the Jacobian row of
// output element 1 is the one that fails.
const tg::Function wrong_second(
    "wrong_second", [](const std::vector<tg::Tensor>& in) { return in[0] * 2.0; },
    [](const tg::FunctionContext& c) {
      const tg::Tensor mask = tg::tensor({1.0, 0.0}, c.grad_output.dtype());
      return std::vector<tg::Tensor>{c.grad_output * mask * 2.0};
    });
}  // namespace

// The worst element is matched to grad(): the report names the Jacobian row (the output element
// whose gradient it is) or the random projection it came from.
TEST(Gradcheck, TheWorstElementNamesItsRowOrProjection) {
  auto two = [](const std::vector<tg::Tensor>& in) { return wrong_second({in[0]}); };
  tg::GradcheckReport r = tg::gradcheck(two, {vec()}, {.check_nodes = false});
  ASSERT_FALSE(r.ok);
  EXPECT_EQ(r.inputs[0].direction, 1);
  EXPECT_EQ(r.inputs[0].output_index, std::vector<int64_t>({1}));
  EXPECT_NE(r.str().find("worst at [1] (row 1: output [1]): analytical 0, numerical 2"), std::string::npos) << r;

  tg::GradcheckOptions projected;
  projected.check_nodes = false;
  projected.full_jacobian_limit = 1;
  tg::GradcheckReport p = tg::gradcheck(two, {vec()}, projected);
  ASSERT_FALSE(p.ok);
  EXPECT_TRUE(p.inputs[0].projected);
  EXPECT_NE(p.str().find("(projection " + std::to_string(p.inputs[0].direction) + ")"), std::string::npos) << p;

  auto scalar = [](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * in[0]); };
  EXPECT_NE(tg::gradcheck(scalar, {vec()}).str().find(" (row 0): analytical"), std::string::npos);
}

// A passing input inside a failing report, or a failing node, shows no "worst at": only the
// failures do.
TEST(Gradcheck, APassingInputOfAFailingCheckShowsNoWorstElement) {
  auto f = [](const std::vector<tg::Tensor>& in) { return tg::sum(wrong_second({in[0]}) + in[1]); };
  tg::GradcheckReport r = tg::gradcheck(f, {vec(), vec()});
  ASSERT_FALSE(r.ok);
  const std::string s = r.str();
  std::istringstream lines(s);
  int failing = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.find(": ok ") != std::string::npos) {
      EXPECT_EQ(line.find("worst at"), std::string::npos) << line;
    }
    if (line.find(": FAIL max") != std::string::npos) {
      ++failing;
      EXPECT_NE(line.find("worst at"), std::string::npos) << line;
    }
  }
  EXPECT_EQ(failing, 2) << "input 0 of the function and input 0 of the wrong_second node\n" << s;
}

// gradcheck promotes float32 inputs to float64; a float32 constant of the function's own then
// clashes with them, and the error says that the promotion is why.
TEST(Gradcheck, AClashWithThePromotedInputsSaysTheyWerePromoted) {
  const tg::Tensor scale = tg::tensor({2.0f, 3.0f});  // float32, made outside the function
  auto f = [&](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * scale); };
  const tg::Tensor x = tg::tensor({1.0f, 2.0f});
  for (const auto& call : std::vector<std::function<void()>>{[&] { tg::gradcheck(f, {x}); },
                                                              [&] { tg::numerical_grad(f, {x}); }}) {
    try {
      call();
      FAIL() << "a float64 input times a float32 constant did not throw";
    } catch (const tg::Error& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("mul: dtypes differ", 0), 0u) << msg;
      EXPECT_NE(msg.find("promoted the float32 inputs to float64"), std::string::npos) << msg;
    }
  }
  // A layer's float32 weight, the usual case, with the layer's own wording of the clash.
  tg::nn::Linear layer(2, 1);
  try {
    tg::gradcheck([&](const std::vector<tg::Tensor>& in) { return tg::sum(layer(in[0])); }, {tg::ones({3, 2})});
    FAIL() << "a float64 input to a float32 layer did not throw";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("promoted the float32 inputs to float64"), std::string::npos) << e.what();
  }
  // Inputs that were float64 already were not promoted: the message is the op's own.
  auto g = [](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * tg::tensor({1.0f, 1.0f})); };
  try {
    tg::gradcheck(g, {vec()});
    FAIL();
  } catch (const tg::Error& e) {
    EXPECT_EQ(std::string(e.what()).find("promoted"), std::string::npos) << e.what();
  }
}
