#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

TEST(Tensor, CreatesFromNestedListsOfEveryRank) {
  EXPECT_EQ(tg::tensor(3.0).dim(), 0u);
  EXPECT_EQ(tg::tensor({1.0, 2.0}).shape(), (tg::Shape{2}));
  auto m = tg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, tg::Dtype::f64);
  EXPECT_EQ(m.shape(), (tg::Shape{2, 3}));
  EXPECT_EQ(m.at({1, 2}), 6.0);
  auto c = tg::tensor({{{1.0, 2.0}}, {{3.0, 4.0}}});
  EXPECT_EQ(c.shape(), (tg::Shape{2, 1, 2}));
  EXPECT_EQ(c.at({1, 0, 1}), 4.0);
  EXPECT_EQ(c.dtype(), tg::Dtype::f32);
}

TEST(Tensor, RaggedListsAndBadIndicesThrow) {
  EXPECT_THROW(tg::tensor({{1.0, 2.0}, {3.0}}), tg::Error);
  auto m = tg::zeros({2, 3});
  EXPECT_THROW(m.at({2, 0}), tg::Error);
  EXPECT_THROW(m.at({0}), tg::Error);
  EXPECT_THROW(m.item(), tg::Error);
  EXPECT_THROW(tg::from_vector(std::vector<double>{1, 2, 3}, {2, 2}), tg::Error);
  EXPECT_THROW(m.data<double>(), tg::Error);
}

TEST(Tensor, CopiesShareStorageAndCloneDoesNot) {
  auto a = tg::zeros({2});
  tg::Tensor b = a;
  b.fill_(5.0);
  EXPECT_EQ(a.at({0}), 5.0);
  auto c = a.clone();
  c.fill_(1.0);
  EXPECT_EQ(a.at({0}), 5.0);
}

TEST(Tensor, GeneratorIsReproducible) {
  tg::Generator g1(7), g2(7);
  auto a = tg::randn({100}, g1), b = tg::randn({100}, g2);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  auto u = tg::rand({1000}, g1, tg::Dtype::f64).to_vector<double>();
  for (double v : u) EXPECT_TRUE(v >= 0.0 && v < 1.0);
}

TEST(Tensor, PrintsValuesShapeAndDtype) {
  std::ostringstream os;
  os << tg::tensor({{1.0, 2.0}, {3.0, 4.0}}, tg::Dtype::f64);
  EXPECT_EQ(os.str(), "tensor([[1, 2],\n        [3, 4]], shape=[2, 2], dtype=float64)");
}

TEST(Tensor, ConvertsDtype) {
  auto a = tg::tensor({1.5, 2.5}, tg::Dtype::f64);
  auto b = a.to(tg::Dtype::f32);
  EXPECT_EQ(b.dtype(), tg::Dtype::f32);
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{1.5f, 2.5f}));
}
