// Derivatives of derivatives: backward({.create_graph}), tg::grad, jacobian, hessian and hvp, and
// the second-order checks. (Every registered op's second derivatives are checked by the registry
// loop, Registry.EveryOpPassesItsChecks, through tg::gradgradcheck.)
#include <gtest/gtest.h>

#include <cmath>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
tg::Tensor f64(std::vector<double> v) { return tg::from_vector(v, {static_cast<int64_t>(v.size())}, tg::Dtype::f64); }
std::vector<double> values(const tg::Tensor& t) { return t.detach().to(tg::Dtype::f64).to_vector<double>(); }
}  // namespace

TEST(CreateGraph, TheGradientOfACubeIsDifferentiableAgain) {
  tg::Tensor x = f64({0.5, -1.5, 2.0}).requires_grad(true);
  tg::sum(tg::pow(x, 3.0)).backward({.create_graph = true});
  ASSERT_TRUE(x.grad().requires_grad()) << "create_graph leaves a differentiable gradient";
  const std::vector<tg::Tensor> h = tg::grad(tg::sum(x.grad()), {x});
  const std::vector<double> got = values(h[0]), xs = values(x);
  for (size_t k = 0; k < xs.size(); ++k) EXPECT_NEAR(got[k], 6 * xs[k], 1e-12);
}

TEST(CreateGraph, OffTheGradientIsAPlainTensor) {
  tg::Tensor x = f64({0.5, -1.5}).requires_grad(true);
  tg::sum(tg::tanh(x) * x).backward();
  EXPECT_FALSE(x.grad().requires_grad());
  EXPECT_EQ(tg::Tape::current().live_nodes(), 0u) << "without create_graph or retain_graph the nodes are released";
}

// Two backward passes with create_graph add their gradients out of place: the first pass's
// gradient, a node of the second one's graph, is not overwritten.
TEST(CreateGraph, AccumulatingTwiceKeepsBothGraphs) {
  tg::Tensor x = f64({0.3, 0.7}).requires_grad(true);
  tg::sum(tg::square(x)).backward({.create_graph = true});
  const tg::Tensor first = x.grad();
  tg::sum(tg::pow(x, 3.0)).backward({.create_graph = true});
  EXPECT_FALSE(first.is_same(x.grad()));
  const std::vector<double> g = values(x.grad()), xs = values(x);
  for (size_t k = 0; k < xs.size(); ++k) EXPECT_NEAR(g[k], 2 * xs[k] + 3 * xs[k] * xs[k], 1e-12);
  const std::vector<double> h = values(tg::grad(tg::sum(x.grad()), {x})[0]);
  for (size_t k = 0; k < xs.size(); ++k) EXPECT_NEAR(h[k], 2 + 6 * xs[k], 1e-12);
}

TEST(Grad, ReturnsGradientsAndLeavesGradAlone) {
  tg::Tensor x = f64({1.0, 2.0}).requires_grad(true), w = f64({3.0, -1.0}).requires_grad(true);
  tg::Tensor h = x * w;  // a recorded tensor can be an input too
  tg::Tensor y = tg::sum(tg::exp(h));
  const std::vector<tg::Tensor> g = tg::grad(y, {x, h, w});
  EXPECT_FALSE(x.has_grad());
  EXPECT_FALSE(w.has_grad());
  const std::vector<double> gx = values(g[0]), gh = values(g[1]), gw = values(g[2]);
  EXPECT_NEAR(gh[0], std::exp(3.0), 1e-12);
  EXPECT_NEAR(gx[0], std::exp(3.0) * 3.0, 1e-12);
  EXPECT_NEAR(gw[1], std::exp(-2.0) * 2.0, 1e-12);
  EXPECT_EQ(tg::Tape::current().live_nodes(), 0u) << "retain_graph is off by default";
}

TEST(Grad, AnUnusedInputIsAnErrorNamingItUnlessAllowed) {
  tg::Tensor x = f64({1.0}).requires_grad(true), unused = f64({1.0, 2.0}).requires_grad(true);
  tg::Tensor y = tg::sum(x * x);
  try {
    tg::grad(y, {x, unused}, {.retain_graph = true});
    FAIL() << "expected tg::Error";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("input 1, a [2] tensor, is not used"), std::string::npos) << e.what();
  }
  const std::vector<tg::Tensor> g = tg::grad(y, {x, unused}, {.allow_unused = true});
  EXPECT_EQ(values(g[1]), (std::vector<double>{0.0, 0.0}));
  EXPECT_THROW(tg::grad(y, {f64({1.0})}), tg::Error);  // an input that does not require gradients
}

TEST(Grad, ANonScalarOutputNeedsAGradOutput) {
  tg::Tensor x = f64({1.0, 2.0}).requires_grad(true);
  tg::Tensor y = x * x;
  EXPECT_THROW(tg::grad(y, {x}, {.retain_graph = true}), tg::Error);
  const std::vector<tg::Tensor> g = tg::grad(y, {x}, {.grad_output = f64({1.0, -1.0})});
  EXPECT_EQ(values(g[0]), (std::vector<double>{2.0, -4.0}));
}

TEST(Functional, HessianOfAProductMatchesTheFormula) {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::square(in[0]) * in[1]); };
  const tg::Tensor H = tg::hessian(f, {f64({1.0, 2.0}), f64({3.0, 4.0})});
  // f = x0^2 y0 + x1^2 y1: d2f/dx_i^2 = 2 y_i, d2f/dx_i dy_i = 2 x_i.
  const std::vector<double> want = {6, 0, 2, 0, 0, 8, 0, 4, 2, 0, 0, 0, 0, 4, 0, 0};
  ASSERT_EQ(H.shape(), tg::Shape({4, 4}));
  const std::vector<double> got = values(H);
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(got[k], want[k], 1e-12) << "element " << k;
}

TEST(Functional, JacobianOfAnElementwiseProduct) {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::tanh(in[0]) * in[1]; };
  const tg::Tensor J = tg::jacobian(f, {f64({0.5, -1.0}), f64({2.0, 3.0})});
  ASSERT_EQ(J.shape(), tg::Shape({2, 4}));
  const std::vector<double> j = values(J);
  const double d0 = 1 - std::tanh(0.5) * std::tanh(0.5), d1 = 1 - std::tanh(-1.0) * std::tanh(-1.0);
  const std::vector<double> want = {2 * d0, 0, std::tanh(0.5), 0, 0, 3 * d1, 0, std::tanh(-1.0)};
  for (size_t k = 0; k < want.size(); ++k) EXPECT_NEAR(j[k], want[k], 1e-12) << "element " << k;
}

TEST(Functional, ErrorsNameWhatIsWrong) {
  tg::TensorFn vec = [](const std::vector<tg::Tensor>& in) { return in[0] * in[0]; };
  EXPECT_THROW(tg::hessian(vec, {f64({1.0, 2.0})}), tg::Error);
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] * in[0]); };
  try {
    tg::hvp(f, {f64({1.0, 2.0})}, {f64({1.0})});
    FAIL() << "expected tg::Error";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("hvp: vector 0 is [1] float64, input 0 is [2] float64"), std::string::npos)
        << e.what();
  }
}

// Hessian-vector products by double backward against central differences of the gradient, on
// random compositions of the library's smooth ops.
TEST(Functional, HvpAgreesWithDifferencesOfGradientsOnRandomGraphs) {
  tg::Generator gen(42);
  for (int graph = 0; graph < 12; ++graph) {
    const int seed = graph;
    tg::TensorFn f = [seed](const std::vector<tg::Tensor>& in) {
      tg::Tensor a = in[0], b = in[1];  // a [3, 4], b [4, 2]
      for (int step = 0; step < 3; ++step) {
        switch ((seed + step * 5) % 6) {
          case 0: a = tg::tanh(a) * a; break;
          case 1: a = tg::sigmoid(a) + tg::sin(a); break;
          case 2: a = tg::softplus(a) * tg::cos(a); break;
          case 3: a = tg::exp(a * 0.3) - a; break;
          case 4: a = tg::gelu(a) + tg::square(a) * 0.1; break;
          default: a = a / (2.0 + tg::square(a)); break;
        }
      }
      tg::Tensor h = tg::matmul(a, b);
      if (seed % 2) h = tg::log_softmax(h, 1);
      else h = tg::silu(h);
      return tg::sum(h * h) + tg::sum(tg::logsumexp(h, 0));
    };
    const std::vector<tg::Tensor> at = {tg::randn({3, 4}, gen, tg::Dtype::f64), tg::randn({4, 2}, gen, tg::Dtype::f64)};
    const std::vector<tg::Tensor> v = {tg::randn({3, 4}, gen, tg::Dtype::f64), tg::randn({4, 2}, gen, tg::Dtype::f64)};
    const std::vector<tg::Tensor> hv = tg::hvp(f, at, v);
    // (grad f(x + h v) - grad f(x - h v)) / 2h
    const double h = 1e-5;
    auto gradient_at = [&](double s) {
      std::vector<tg::Tensor> x;
      for (size_t k = 0; k < at.size(); ++k) x.push_back((at[k] + v[k] * s).detach().requires_grad(true));
      return tg::grad(f(x), x);
    };
    const std::vector<tg::Tensor> plus = gradient_at(h), minus = gradient_at(-h);
    for (size_t k = 0; k < at.size(); ++k) {
      const std::vector<double> got = values(hv[k]), p = values(plus[k]), m = values(minus[k]);
      for (size_t j = 0; j < got.size(); ++j) {
        const double numerical = (p[j] - m[j]) / (2 * h);
        EXPECT_NEAR(got[j], numerical, 1e-6 + 1e-5 * std::abs(numerical)) << "graph " << graph << " input " << k << " element " << j;
      }
    }
  }
}

TEST(Functional, HvpEqualsTheHessianTimesTheVector) {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::exp(in[0] * in[1]) + tg::tanh(in[0])); };
  const std::vector<tg::Tensor> at = {f64({0.3, -0.2, 0.8}), f64({1.1, 0.4, -0.6})};
  const std::vector<tg::Tensor> v = {f64({1.0, 2.0, -1.0}), f64({0.5, 0.0, 3.0})};
  const std::vector<double> H = values(tg::hessian(f, at));
  const std::vector<tg::Tensor> hv = tg::hvp(f, at, v);
  const std::vector<double> flat_v = {1, 2, -1, 0.5, 0, 3};
  std::vector<double> got = values(hv[0]), rest = values(hv[1]);
  got.insert(got.end(), rest.begin(), rest.end());
  for (size_t r = 0; r < 6; ++r) {
    double want = 0;
    for (size_t c = 0; c < 6; ++c) want += H[r * 6 + c] * flat_v[c];
    EXPECT_NEAR(got[r], want, 1e-12) << "row " << r;
  }
}

// A user function whose first derivative is right but whose second is wrong: cube's backward
// calls cube_grad (3 g x^2), whose own backward says d/dx = 3 g x instead of 6 g x. gradcheck
// passes it; gradgradcheck fails it and names cube_grad on the gradient's tape.
TEST(Gradgradcheck, CatchesAndNamesAWrongSecondDerivative) {
  static const tg::Function cube_grad(
      "cube_grad", [](const std::vector<tg::Tensor>& in) { return in[0] * tg::square(in[1]) * 3.0; },
      [](const tg::FunctionContext& c) {
        const tg::Tensor &g = c.inputs[0], &x = c.inputs[1];
        return std::vector<tg::Tensor>{c.grad_output * tg::square(x) * 3.0, c.grad_output * g * x * 3.0};  // wrong: 6
      });
  static const tg::Function cube("cube", [](const std::vector<tg::Tensor>& in) { return tg::pow(in[0], 3.0); },
                                 [](const tg::FunctionContext& c) {
                                   return std::vector<tg::Tensor>{cube_grad({c.grad_output, c.inputs[0]})};
                                 });
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(cube({in[0]})); };
  const std::vector<tg::Tensor> at = {f64({0.5, -1.2, 2.0})};
  EXPECT_TRUE(tg::gradcheck(f, at).ok) << "the first derivative is right";
  const tg::GradcheckReport r = tg::gradgradcheck(f, at);
  EXPECT_FALSE(r.ok);
  const tg::NodeCheck* bad = r.first_bad_node();
  ASSERT_NE(bad, nullptr) << r.str();
  EXPECT_EQ(bad->op, "cube_grad") << r.str();
  EXPECT_NE(r.str().find("cube_grad"), std::string::npos);
  EXPECT_NE(r.str().find("FAIL"), std::string::npos);
}

TEST(Gradgradcheck, PassesOnASmoothFunctionAndChecksTheGradientsNodes) {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::tanh(in[0] * in[1]) * in[0]); };
  const tg::GradcheckReport r = tg::gradgradcheck(f, {f64({0.5, -1.0, 2.0}), f64({1.5, 0.25, -0.75})});
  EXPECT_TRUE(r.ok) << r.str();
  bool saw_backward_node = false;
  for (const tg::NodeCheck& n : r.nodes) saw_backward_node |= n.op == "tanh_backward";
  EXPECT_TRUE(saw_backward_node) << "the gradient's own tape is checked node by node\n" << r.str();
  EXPECT_EQ(r.inputs.size(), 3u) << "the two inputs and the upstream v";
}

TEST(Gradcheck, AllZeroDerivativesAreVacuousNotAPass) {
  tg::TensorFn dead = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::relu(in[0])); };
  const tg::GradcheckReport r = tg::gradcheck(dead, {f64({-1.0, -2.0})});
  EXPECT_FALSE(r.ok);
  ASSERT_EQ(r.inputs.size(), 1u);
  EXPECT_TRUE(r.inputs[0].vacuous);
  EXPECT_NE(r.str().find("vacuous"), std::string::npos) << r.str();
  EXPECT_NE(r.str().find("VACUOUS"), std::string::npos) << r.str();
  EXPECT_TRUE(tg::gradcheck(dead, {f64({-1.0, -2.0})}, {.allow_vacuous = true}).ok) << "accepted on purpose";
  // One live element is enough for a real comparison.
  EXPECT_TRUE(tg::gradcheck(dead, {f64({-1.0, 2.0})}).ok);
}

TEST(Gradcheck, AnOutputNoPerturbationChangesIsVacuous) {
  tg::TensorFn constant = [](const std::vector<tg::Tensor>& in) { return tg::sum(in[0] - in[0]); };
  const tg::GradcheckReport r = tg::gradcheck(constant, {f64({1.0, 2.0})});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.vacuous.find("changed by no perturbation"), std::string::npos) << r.str();
}

// A sample point within eps of relu's kink: central differences straddle it, so that element is
// neither passed nor failed, and the report says where.
TEST(Gradcheck, AKinkWithinEpsIsInconclusiveAtThatNodeAndElement) {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::relu(in[0]) * 2.0); };
  const tg::GradcheckReport r = tg::gradcheck(f, {f64({1.0, 3e-7, -0.5})});
  EXPECT_FALSE(r.ok) << "inconclusive is not a pass";
  EXPECT_TRUE(r.inconclusive) << r.str();
  ASSERT_FALSE(r.nodes.empty());
  EXPECT_EQ(r.nodes[0].op, "relu");
  EXPECT_TRUE(r.nodes[0].inconclusive);
  ASSERT_EQ(r.nodes[0].inputs[0].at_kinks.size(), 1u);
  EXPECT_EQ(r.nodes[0].inputs[0].at_kinks[0], (std::vector<int64_t>{1}));
  EXPECT_NE(r.str().find("INCONCLUSIVE"), std::string::npos) << r.str();
  EXPECT_NE(r.str().find("inconclusive at [1]"), std::string::npos) << r.str();
  // Away from the kink the same function passes.
  EXPECT_TRUE(tg::gradcheck(f, {f64({1.0, 0.3, -0.5})}).ok);
}

TEST(Gradcheck, ATieOfMaximumIsInconclusive) {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::maximum(in[0], in[1])); };
  const tg::GradcheckReport r = tg::gradcheck(f, {f64({1.0, 2.0}), f64({0.0, 2.0})});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.inconclusive) << r.str();
  EXPECT_EQ(r.nodes[0].inputs[0].at_kinks, (std::vector<std::vector<int64_t>>{{1}}));
  EXPECT_EQ(r.nodes[0].inputs[1].at_kinks, (std::vector<std::vector<int64_t>>{{1}}));
}

TEST(Gradcheck, ATieOfMaxAlongAnAxisIsInconclusive) {
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(tg::max(in[0], 1)); };
  const tg::Tensor x = tg::from_vector(std::vector<double>{1.0, 3.0, 3.0, -1.0, 0.5, 2.0}, {2, 3}, tg::Dtype::f64);
  const tg::GradcheckReport r = tg::gradcheck(f, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_TRUE(r.inconclusive) << r.str();
  EXPECT_EQ(r.nodes[0].op, "max");
  EXPECT_EQ(r.nodes[0].inputs[0].at_kinks, (std::vector<std::vector<int64_t>>{{0, 1}, {0, 2}})) << r.str();
}

// A real failure elsewhere is a failure, whatever kinks there are.
TEST(Gradcheck, AFailureBesideAKinkIsStillAFailure) {
  static const tg::Function wrong("wrong_double", [](const std::vector<tg::Tensor>& in) { return in[0] * 2.0; },
                                  [](const tg::FunctionContext& c) { return std::vector<tg::Tensor>{c.grad_output * 3.0}; });
  tg::TensorFn f = [](const std::vector<tg::Tensor>& in) { return tg::sum(wrong({tg::relu(in[0])})); };
  const tg::GradcheckReport r = tg::gradcheck(f, {f64({1.0, 3e-7})});
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.inconclusive) << r.str();
  ASSERT_NE(r.first_bad_node(), nullptr);
  EXPECT_EQ(r.first_bad_node()->op, "wrong_double");
}

// Full Jacobian rows and random projections reach the same verdict on every registered op.
TEST(Gradcheck, FullJacobianAndProjectionsAgreeOnEveryRegisteredOp) {
  int compared = 0;
  for (const tg::OpEntry& e : tg::op_registry()) {
    if (!e.differentiable) continue;
    tg::Generator gen(99);
    for (const tg::OpSample& s : e.samples(tg::Dtype::f64, gen)) {
      std::vector<size_t> skip = e.nondiff_inputs;
      skip.insert(skip.end(), e.zero_gradient_inputs.begin(), e.zero_gradient_inputs.end());
      tg::GradcheckOptions full{.eps = e.eps, .full_jacobian_limit = 1 << 20, .check_nodes = false,
                                .skip_inputs = skip, .allow_vacuous = e.zero_gradient};
      tg::GradcheckOptions projected = full;
      projected.full_jacobian_limit = 0;
      projected.projections = 3;
      const tg::GradcheckReport a = tg::gradcheck(e.fn, s.inputs, full), b = tg::gradcheck(e.fn, s.inputs, projected);
      EXPECT_TRUE(a.ok) << e.name << " on " << s.note << "\n" << a.str();
      EXPECT_TRUE(b.ok) << e.name << " on " << s.note << "\n" << b.str();
      EXPECT_NE(a.method.find("full Jacobian"), std::string::npos);
      EXPECT_NE(b.method.find("random projections"), std::string::npos);
      ++compared;
    }
  }
  EXPECT_GT(compared, 100);
}

TEST(Dot, ShowsValuesGradientsAndMarksFailedNodesInRed) {
  static const tg::Function wrong("wrong_square", [](const std::vector<tg::Tensor>& in) { return in[0] * in[0]; },
                                  [](const tg::FunctionContext& c) {
                                    return std::vector<tg::Tensor>{c.grad_output * c.inputs[0] * 3.0};  // should be 2
                                  });
  tg::Tensor x = f64({1.0, -2.0}).requires_grad(true);
  tg::Tensor loss = tg::sum(tg::tanh(wrong({x})));
  const tg::GradcheckReport r = tg::gradcheck_nodes(loss);
  ASSERT_FALSE(r.ok);
  const std::string dot = tg::to_dot(loss, {.values = true, .grads = true, .check = &r});
  EXPECT_NE(dot.find("value min"), std::string::npos) << dot;
  EXPECT_NE(dot.find("grad min"), std::string::npos) << dot;
  const size_t red = dot.find(", color=red");
  ASSERT_NE(red, std::string::npos) << dot;
  const size_t line = dot.rfind('\n', red);
  EXPECT_NE(dot.substr(line, red - line).find("wrong_square"), std::string::npos) << "the red node is the wrong one\n" << dot;
  EXPECT_EQ(dot.find(", color=red", red + 1), std::string::npos) << "only the wrong node is red\n" << dot;
  EXPECT_FALSE(x.has_grad()) << "gradient summaries leave grad() alone";
}
