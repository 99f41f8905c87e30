// User-defined differentiable functions, and gradcheck catching a wrong backward by name.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
// softplus(x) = log(1 + e^x), with derivative sigmoid(x).
tg::Function softplus("softplus", [](const std::vector<tg::Tensor>& in) { return tg::log(1.0 + tg::exp(in[0])); },
                      [](const tg::FunctionContext& c) {
                        return std::vector<tg::Tensor>{c.grad_output * tg::sigmoid(c.inputs[0])};
                      });

// The same forward with a backward that forgets the sigmoid: a planted bug.
tg::Function broken_softplus("broken_softplus",
                             [](const std::vector<tg::Tensor>& in) { return tg::log(1.0 + tg::exp(in[0])); },
                             [](const tg::FunctionContext& c) { return std::vector<tg::Tensor>{c.grad_output}; });

// swish(x, beta) = x sigmoid(beta x), two inputs.
tg::Function swish("swish",
                   [](const std::vector<tg::Tensor>& in) { return in[0] * tg::sigmoid(in[1] * in[0]); },
                   [](const tg::FunctionContext& c) {
                     const auto& x = c.inputs[0];
                     const auto& b = c.inputs[1];
                     auto s = tg::sigmoid(b * x);
                     auto ds = s * (1.0 - s);
                     return std::vector<tg::Tensor>{c.grad_output * (s + x * b * ds),
                                                    tg::sum_to(c.grad_output * x * x * ds, b.shape())};
                   });
}  // namespace

TEST(Function, UserFunctionWorksInAGraphAndPassesGradcheck) {
  auto x = tg::tensor({{-1.0, 0.5, 2.0}}, tg::Dtype::f64).requires_grad(true);
  auto y = tg::sum(softplus({x}) * 2.0);
  y.backward();
  auto g = x.grad().to_vector<double>();
  EXPECT_NEAR(g[0], 2.0 / (1.0 + std::exp(1.0)), 1e-12);
  auto fn = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::tanh(softplus({in[0]}))); };
  tg::GradcheckReport r = tg::gradcheck(fn, {x});
  EXPECT_TRUE(r.ok) << r;
  auto two = [](const std::vector<tg::Tensor>& in) { return swish({in[0], in[1]}); };
  EXPECT_TRUE(tg::gradcheck(two, {x, tg::tensor(1.5, tg::Dtype::f64)}).ok);
}

TEST(Function, AWrongBackwardIsCaughtAndNamedNodeByNode) {
  auto x = tg::tensor({{-1.0, 0.5, 2.0}}, tg::Dtype::f64);
  auto fn = [](const std::vector<tg::Tensor>& in) {
    auto h = tg::matmul(in[0], tg::ones({3, 2}, tg::Dtype::f64));
    return tg::sum(tg::sigmoid(broken_softplus({h})));
  };
  tg::GradcheckReport r = tg::gradcheck(fn, {x});
  EXPECT_FALSE(r.ok);
  ASSERT_NE(r.first_bad_node(), nullptr) << r;
  EXPECT_EQ(r.first_bad_node()->op, "broken_softplus") << r;
  for (const tg::NodeCheck& n : r.nodes)
    if (n.op != "broken_softplus") {
      EXPECT_TRUE(n.ok) << n.op << " was blamed wrongly\n" << r;
    }
  EXPECT_NE(r.str().find("broken_softplus"), std::string::npos);
  EXPECT_NE(r.str().find("FAIL"), std::string::npos);
}

TEST(Function, GradcheckNodesChecksARecordedTape) {
  auto x = tg::tensor({{0.3, -0.2}}, tg::Dtype::f32).requires_grad(true);
  auto W = tg::tensor({{0.1, 0.2}, {0.3, 0.4}}, tg::Dtype::f32).requires_grad(true);
  auto loss = tg::softmax_cross_entropy(tg::matmul(x, W), std::vector<int64_t>{1});
  tg::GradcheckReport r = tg::gradcheck_nodes(loss);
  EXPECT_TRUE(r.ok) << r;
  EXPECT_TRUE(r.promoted);
  EXPECT_EQ(r.nodes.size(), 2u);
}

TEST(Function, BackwardReturningTheWrongShapeIsAClearError) {
  tg::Function bad("bad", [](const std::vector<tg::Tensor>& in) { return in[0] * 2.0; },
                   [](const tg::FunctionContext&) { return std::vector<tg::Tensor>{tg::zeros({5})}; });
  auto x = tg::zeros({2, 2}).requires_grad(true);
  try {
    tg::sum(bad({x})).backward();
    FAIL();
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad: backward returned a gradient of shape [5]"), std::string::npos)
        << e.what();
  }
}

// Skipping a function input (data, not a variable) must not skip the nodes' own inputs.
TEST(Function, SkippedFunctionInputsDoNotHideABrokenNode) {
  auto data = tg::tensor({{0.5, -1.0}}, tg::Dtype::f64);
  auto w = tg::tensor({{1.0, 2.0}}, tg::Dtype::f64);
  auto fn = [](const std::vector<tg::Tensor>& in) { return tg::sum(broken_softplus({in[0] * in[1]})); };
  tg::GradcheckOptions o;
  o.skip_inputs = {0};
  tg::GradcheckReport r = tg::gradcheck(fn, {data, w}, o);
  EXPECT_FALSE(r.ok);
  ASSERT_NE(r.first_bad_node(), nullptr) << r;
  EXPECT_EQ(r.first_bad_node()->op, "broken_softplus");
}
