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
