#pragma once
// Shared by the backward-op tests (backward_ops_*_test.cpp): each family's backward ops are in the
// registry, and pass the checks every op gets (gradcheck and gradgradcheck, both dtypes), one
// entry at a time so that a failure names it.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

inline void expect_registered_and_checked(const std::set<std::string>& ops) {
  std::set<std::string> seen;
  for (const tapegrad::OpEntry& e : tapegrad::op_registry()) {
    if (!ops.count(e.name)) continue;
    seen.insert(e.name);
    try {
      for (const tapegrad::OpCheck& c : tapegrad::check_op(e)) EXPECT_TRUE(c.ok) << c.label << "\n" << c.detail;
    } catch (const tapegrad::Error& err) {
      ADD_FAILURE() << e.name << " (" << e.variant << "): " << err.what();
    }
  }
  EXPECT_EQ(seen, ops);
}

// A create_graph backward of sum(f(x)^2) (a non-uniform upstream, 2 f(x)) records the gradient as
// one `backward_op` node (not library ops beside a fused kernel), and its value is the plain
// pass's, bit for bit: both run the op's one kernel.
template <class F>
void expect_one_formula(const char* backward_op, const tapegrad::Tensor& x, F f) {
  auto loss = [&] { return tapegrad::sum(tapegrad::square(f(x))); };
  const tapegrad::Tensor plain = tapegrad::grad(loss(), {x})[0];
  const tapegrad::Tensor recorded = tapegrad::grad(loss(), {x}, {.create_graph = true})[0];
  EXPECT_EQ(plain.to_vector<double>(), recorded.to_vector<double>()) << backward_op;
  ASSERT_TRUE(recorded.requires_grad()) << backward_op;
  const std::vector<tapegrad::NodeView> nodes = tapegrad::Tape::current().nodes_of(recorded);
  ASSERT_FALSE(nodes.empty()) << backward_op;
  EXPECT_EQ(nodes.back().op, backward_op);
  tapegrad::Tape::current().clear();
}
