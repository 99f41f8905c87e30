// Every registered op is gradient-checked, whole and node by node, and every public op is registered.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
std::string label(const tg::OpEntry& e, const tg::OpSample& s) {
  return e.name + (e.variant.empty() ? "" : " (" + e.variant + ")") + " on " + s.note;
}
}  // namespace

TEST(Registry, EveryDifferentiableOpPassesGradcheckInFloat64) {
  tg::Generator gen(1234);
  int checked = 0;
  for (const tg::OpEntry& e : tg::op_registry()) {
    if (!e.differentiable) continue;
    for (const tg::OpSample& s : e.samples(tg::Dtype::f64, gen)) {
      tg::GradcheckOptions o;
      o.skip_inputs = e.nondiff_inputs;
      o.eps = e.eps;
      tg::GradcheckReport r = tg::gradcheck(e.fn, s.inputs, o);
      EXPECT_TRUE(r.ok) << label(e, s) << "\n" << r;
      EXPECT_FALSE(r.nodes.empty()) << label(e, s) << ": no node was checked";
      ++checked;
    }
  }
  EXPECT_GT(checked, 40);
}

// The float32 code path: backprop in float32 agrees with backprop in float64 on the same values
// (float64 itself is checked against finite differences above).
TEST(Registry, Float32GradientsAgreeWithFloat64) {
  tg::Generator gen(99);
  for (const tg::OpEntry& e : tg::op_registry()) {
    if (!e.differentiable) continue;
    for (const tg::OpSample& s : e.samples(tg::Dtype::f32, gen)) {
      auto grads = [&](tg::Dtype d) {
        std::vector<tg::Tensor> in;
        for (size_t i = 0; i < s.inputs.size(); ++i) {
          bool data_only = std::count(e.nondiff_inputs.begin(), e.nondiff_inputs.end(), i) > 0;
          in.push_back(s.inputs[i].to(d).clone().requires_grad(!data_only));
        }
        tg::Tensor out = e.fn(in);
        EXPECT_EQ(out.dtype(), d) << label(e, s);
        tg::sum(out * tg::ones(out.shape(), d)).backward();
        std::vector<std::vector<double>> g;
        for (auto& t : in) if (t.requires_grad()) g.push_back(t.grad().to_vector<double>());
        return g;
      };
      auto g32 = grads(tg::Dtype::f32), g64 = grads(tg::Dtype::f64);
      for (size_t i = 0; i < g32.size(); ++i)
        for (size_t k = 0; k < g32[i].size(); ++k)
          EXPECT_NEAR(g32[i][k], g64[i][k], 1e-4 + 1e-4 * std::abs(g64[i][k])) << label(e, s) << " input " << i << " element " << k;
    }
  }
}

TEST(Registry, NonDifferentiableOpsRunOnTheirSamples) {
  tg::Generator gen(5);
  for (const tg::OpEntry& e : tg::op_registry()) {
    if (e.differentiable) continue;
    for (const tg::OpSample& s : e.samples(tg::Dtype::f64, gen)) {
      tg::Tensor out = e.fn(s.inputs);
      EXPECT_FALSE(out.requires_grad()) << label(e, s);
    }
  }
}

// Every function declared in the public ops header has at least one registry entry.
TEST(Registry, EveryPublicOpIsRegistered) {
  std::ifstream in(std::string(TAPEGRAD_SOURCE_DIR) + "/autograd/include/tapegrad/autograd/ops.h");
  ASSERT_TRUE(in) << "cannot read ops.h";
  std::stringstream text;
  text << in.rdbuf();
  std::string src = text.str();
  std::regex decl(R"(\nTensor ([a-z_0-9]+)\()");
  std::set<std::string> declared;
  for (auto it = std::sregex_iterator(src.begin(), src.end(), decl); it != std::sregex_iterator(); ++it)
    declared.insert((*it)[1]);
  std::set<std::string> registered;
  for (const tg::OpEntry& e : tg::op_registry()) registered.insert(e.name);
  EXPECT_GT(declared.size(), 30u);
  for (const std::string& name : declared) EXPECT_TRUE(registered.count(name)) << name << " is declared in ops.h but not registered";
}
