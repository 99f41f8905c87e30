// Every registered op is gradient-checked, whole and node by node, and every public op is registered.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

// The checks every registered op gets (tg::check_op: gradcheck whole and per node in float64,
// float32 backprop against float64, non-differentiable entries record nothing).
TEST(Registry, EveryOpPassesItsChecks) {
  int checked = 0;
  for (const tg::OpEntry& e : tg::op_registry())
    for (const tg::OpCheck& c : tg::check_op(e)) {
      EXPECT_TRUE(c.ok) << c.label << "\n" << c.detail;
      ++checked;
    }
  EXPECT_GT(checked, 80);
}

// check_op cannot pass vacuously: an entry without samples is an error, and a function that
// records no node fails its gradcheck.
TEST(Registry, CheckOpRefusesToCheckNothing) {
  tg::OpEntry none{"nothing", "", [](const std::vector<tg::Tensor>& in) { return in[0]; },
                   [](tg::Dtype, tg::Generator&) { return std::vector<tg::OpSample>{}; }};
  EXPECT_THROW(tg::check_op(none), tg::Error);
  tg::OpEntry identity{"identity", "", [](const std::vector<tg::Tensor>& in) { return in[0]; },
                       [](tg::Dtype d, tg::Generator& g) {
                         return std::vector<tg::OpSample>{{{tg::samples::normal({3}, d, g)}, "vector"}};
                       }};
  std::vector<tg::OpCheck> checks = tg::check_op(identity);
  ASSERT_FALSE(checks.empty());
  EXPECT_FALSE(checks[0].ok) << checks[0].detail;
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
