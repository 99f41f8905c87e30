// The Tensor handle's special members keep exact reference counts, also when a handle is
// assigned to itself or to an expression that returns it: a count left behind is a leaked tensor.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>
#include <utility>

namespace tg = tapegrad;

TEST(Handle, SelfAssignmentKeepsOneReference) {
  tg::Tensor x = tg::zeros({2, 3});
  tg::Tensor& alias = x;
  x = alias;  // copy to itself
  EXPECT_EQ(x.use_count(), 1);
  x = std::move(alias);  // move to itself: stays defined
  ASSERT_TRUE(x.defined());
  EXPECT_EQ(x.use_count(), 1);
}

// Each of these returns its argument (or a handle to it), and the result replaces the argument.
TEST(Handle, AssigningAnOpThatReturnsItsInputLeaksNothing) {
  tg::Tensor x = tg::zeros({2, 3});
  x = x.to(x.dtype());
  EXPECT_EQ(x.use_count(), 1) << "to() of the same dtype";
  x = tg::reshape(x, {2, 3});
  EXPECT_EQ(x.use_count(), 1) << "reshape to the same shape";
  x = tg::to_dtype(x, x.dtype());
  EXPECT_EQ(x.use_count(), 1) << "to_dtype of the same dtype";
  x = tg::sum_to(x, x.shape());
  EXPECT_EQ(x.use_count(), 1) << "sum_to the same shape";
  x = tg::broadcast_to(x, x.shape());
  EXPECT_EQ(x.use_count(), 1) << "broadcast_to the same shape";

  tg::nn::Dropout drop(0.5);
  drop.eval();
  x = drop(x);
  EXPECT_EQ(x.use_count(), 1) << "Dropout in eval mode";
  tg::nn::Sequential chain{tg::nn::Dropout(0.0)};
  x = chain(x);
  EXPECT_EQ(x.use_count(), 1) << "Sequential through Dropout(0)";
  tg::nn::Sequential empty;
  x = empty(x);
  EXPECT_EQ(x.use_count(), 1) << "an empty Sequential";
}

TEST(Handle, CopiesAndMovesCountExactly) {
  tg::Tensor a = tg::ones({4});
  tg::Tensor b = a;
  EXPECT_EQ(a.use_count(), 2);
  tg::Tensor c = std::move(b);
  EXPECT_FALSE(b.defined());  // NOLINT(bugprone-use-after-move): moved-from is undefined, by contract
  EXPECT_EQ(a.use_count(), 2);
  c = tg::Tensor();
  EXPECT_EQ(a.use_count(), 1);
  tg::Tensor d;
  d = a;
  d = a;  // re-assigning the same tensor does not add a reference
  EXPECT_EQ(a.use_count(), 2);
}
