// conv2d, max_pool2d, avg_pool2d and batch_norm against direct loops written from their
// definitions (the registry gradient-checks them; this checks what they compute), at the edges
// (ties, NaN, odd sizes, padding) and their errors.
#include <gtest/gtest.h>

#include <cmath>
#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {

struct ConvCase {
  int64_t stride, padding, dilation;
};

// out[n][o][y][x] = b[o] + sum_{c,i,j} w[o][c][i][j] x[n][c][y s - p + i d][x s - p + j d], in double.
std::vector<double> direct_conv(const tg::Tensor& x, const tg::Tensor& w, const tg::Tensor& b, ConvCase k,
                                std::vector<int64_t>& shape) {
  const auto X = x.to_vector<double>(), W = w.to_vector<double>(), B = b.to_vector<double>();
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), Wd = x.size(3);
  const int64_t O = w.size(0), KH = w.size(2), KW = w.size(3);
  const int64_t OH = (H + 2 * k.padding - k.dilation * (KH - 1) - 1) / k.stride + 1;
  const int64_t OW = (Wd + 2 * k.padding - k.dilation * (KW - 1) - 1) / k.stride + 1;
  shape = {N, O, OH, OW};
  std::vector<double> out;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t y = 0; y < OH; ++y)
        for (int64_t xx = 0; xx < OW; ++xx) {
          double s = B[size_t(o)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t i = 0; i < KH; ++i)
              for (int64_t j = 0; j < KW; ++j) {
                const int64_t iy = y * k.stride - k.padding + i * k.dilation, ix = xx * k.stride - k.padding + j * k.dilation;
                if (iy < 0 || iy >= H || ix < 0 || ix >= Wd) continue;
                s += W[size_t(((o * C + c) * KH + i) * KW + j)] * X[size_t(((n * C + c) * H + iy) * Wd + ix)];
              }
          out.push_back(s);
        }
  return out;
}

}  // namespace

// Every path of the implementation: same-size 3x3 (one block copy per tap), dilated same-size,
// strided, padded, rectangular kernels, and 1x1 (no buffer), in both dtypes.
TEST(OpsConv, Conv2dMatchesTheDirectSum) {
  tg::Generator gen(3);
  struct Case {
    tg::Shape x, w;
    ConvCase k;
  };
  const Case cases[] = {{{2, 3, 6, 6}, {4, 3, 3, 3}, {1, 1, 1}},  {{1, 2, 7, 5}, {3, 2, 3, 3}, {1, 2, 2}},
                        {{2, 2, 7, 6}, {3, 2, 3, 2}, {2, 0, 1}},  {{1, 1, 5, 5}, {2, 1, 3, 3}, {2, 1, 1}},
                        {{2, 4, 3, 5}, {5, 4, 1, 1}, {1, 0, 1}},  {{1, 3, 4, 4}, {2, 3, 2, 2}, {1, 1, 1}},
                        {{1, 1, 28, 28}, {32, 1, 3, 3}, {1, 1, 1}}};
  for (const Case& c : cases)
    for (tg::Dtype d : {tg::Dtype::f64, tg::Dtype::f32}) {
      const tg::Tensor x = tg::randn(c.x, gen, d), w = tg::randn(c.w, gen, d), b = tg::randn({c.w[0]}, gen, d);
      std::vector<int64_t> shape;
      const std::vector<double> want = direct_conv(x, w, b, c.k, shape);
      const tg::Tensor y = tg::conv2d(x, w, b, {.stride = c.k.stride, .padding = c.k.padding, .dilation = c.k.dilation});
      ASSERT_EQ(y.shape(), tg::Shape(shape)) << "x " << c.x.str() << " w " << c.w.str();
      const std::vector<double> got = y.to_vector<double>();
      const double tol = d == tg::Dtype::f64 ? 1e-12 : 1e-5;
      for (size_t i = 0; i < got.size(); ++i)
        ASSERT_NEAR(got[i], want[i], tol * (1 + std::abs(want[i]))) << "x " << c.x.str() << " w " << c.w.str() << " at " << i;
      // Without a bias: the same sums less b.
      const std::vector<double> nobias =
          tg::conv2d(x, w, {.stride = c.k.stride, .padding = c.k.padding, .dilation = c.k.dilation}).to_vector<double>();
      const std::vector<double> bias = b.to_vector<double>();
      const int64_t per_channel = shape[2] * shape[3];
      for (size_t i = 0; i < nobias.size(); ++i)
        ASSERT_NEAR(nobias[i], want[i] - bias[size_t(int64_t(i) / per_channel % shape[1])], tol * (1 + std::abs(want[i])));
    }
}

// The weight and input gradients of sum(conv2d(x, w) * g) for the shapes of the CNN's second layer
// (where the weight gradient takes its transposed form) against central differences of a few
// elements; the registry checks the small shapes element by element.
TEST(OpsConv, Conv2dGradientsAtTheNetsShapesAgreeWithDifferences) {
  tg::Generator gen(4);
  const tg::Tensor x = tg::randn({2, 32, 6, 6}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor w = tg::randn({8, 32, 3, 3}, gen, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor g = tg::randn({2, 8, 6, 6}, gen, tg::Dtype::f64);
  auto loss = [&](const tg::Tensor& xv, const tg::Tensor& wv) {
    tg::NoGradGuard off;
    return tg::sum(tg::conv2d(xv, wv, {.padding = 1}) * g).item();
  };
  tg::sum(tg::conv2d(x, w, {.padding = 1}) * g).backward();
  const std::vector<double> gx = x.grad().to_vector<double>(), gw = w.grad().to_vector<double>();
  for (int64_t k : {0, 37, 500, 1151, 2303}) {
    tg::Tensor xp = x.detach().clone(), xm = x.detach().clone();
    xp.data<double>()[k] += 1e-6;
    xm.data<double>()[k] -= 1e-6;
    EXPECT_NEAR(gx[size_t(k)], (loss(xp, w.detach()) - loss(xm, w.detach())) / 2e-6, 1e-6) << "x element " << k;
  }
  for (int64_t k : {0, 100, 1000, 2303}) {
    tg::Tensor wp = w.detach().clone(), wm = w.detach().clone();
    wp.data<double>()[k] += 1e-6;
    wm.data<double>()[k] -= 1e-6;
    EXPECT_NEAR(gw[size_t(k)], (loss(x.detach(), wp) - loss(x.detach(), wm)) / 2e-6, 1e-6) << "w element " << k;
  }
}

TEST(OpsConv, Conv2dErrorsNameTheShapes) {
  const tg::Tensor x = tg::zeros({1, 3, 5, 5}), w = tg::zeros({2, 3, 3, 3});
  EXPECT_NE(message_of([&] { tg::conv2d(x, tg::zeros({2, 4, 3, 3})); }).find("expects 4 input channels, x has 3"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tg::conv2d(tg::zeros({3, 5, 5}), w); }).find("x must be [N, C, H, W]"), std::string::npos);
  EXPECT_NE(message_of([&] { tg::conv2d(x, w, tg::zeros({3})); }).find("bias has shape [3], expected [2]"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tg::conv2d(x, w, {.stride = 0}); }).find("stride >= 1"), std::string::npos);
  EXPECT_NE(message_of([&] { tg::conv2d(x, tg::zeros({2, 3, 7, 7})); }).find("larger than the padded input 5x5"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tg::conv2d(x, tg::zeros({2, 3, 3, 3}, tg::Dtype::f64)); }).find("dtypes differ"),
            std::string::npos);
}

// On ties the whole gradient goes to the first maximal element in row-major window order; a NaN
// wins its window; in odd sizes the last row and column are in no window and get zero.
TEST(OpsConv, MaxPoolRoutesEachWindowsGradientToItsWinner) {
  for (tg::Dtype d : {tg::Dtype::f32, tg::Dtype::f64}) {
    const tg::Tensor x = tg::reshape(tg::tensor_rank1({1, 3, 0, 0, 0,  //
                                                       3, 2, 5, 4, 0,  //
                                                       7, 7, 1, 1, 0,  //
                                                       7, 7, 1, 1, 0,  //
                                                       9, 9, 9, 9, 9},
                                                      d),
                                     {1, 1, 5, 5})
                             .requires_grad(true);
    const tg::Tensor y = tg::max_pool2d(x, {.kernel = 2});
    EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{3, 5, 7, 1}));
    tg::sum(y * tg::reshape(tg::tensor_rank1({1, 10, 100, 1000}, d), {1, 1, 2, 2})).backward();
    EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0, 0,    //
                                                                  0, 0, 10, 0, 0,   //
                                                                  100, 0, 1000, 0, 0,  //
                                                                  0, 0, 0, 0, 0,    //
                                                                  0, 0, 0, 0, 0}));
  }
  // Even sizes take the vectorized path: the same rules.
  const tg::Tensor tie = tg::full({1, 1, 2, 2}, 3.0).requires_grad(true);
  tg::max_pool2d(tie, {.kernel = 2}).backward(tg::ones({1, 1, 1, 1}));
  EXPECT_EQ(tie.grad().to_vector<double>(), (std::vector<double>{1, 0, 0, 0}));
  const tg::Tensor x = tg::reshape(tg::tensor_rank1({1, NAN, 2, NAN}), {1, 1, 2, 2}).requires_grad(true);
  const tg::Tensor y = tg::max_pool2d(x, {.kernel = 2});
  EXPECT_TRUE(std::isnan(y.item()));
  y.backward(tg::ones({1, 1, 1, 1}));
  EXPECT_EQ(x.grad().to_vector<double>()[1], 0.0);
  EXPECT_EQ(x.grad().to_vector<double>()[3], 1.0);  // the last NaN, as PyTorch's CPU kernel
}

// Two NaNs in a window: the gradient goes to the later one in row-major order (PyTorch's CPU
// kernel takes every NaN it meets, `(val > maxval) || std::isnan(val)`), on every path: the
// vectorized 2x2 one (even sizes), the general one (odd sizes, other kernels) and the recorded
// form of a create_graph pass.
TEST(OpsConv, MaxPoolRoutesAWindowsGradientToItsLastNan) {
  for (tg::Dtype d : {tg::Dtype::f32, tg::Dtype::f64})
    for (int64_t size : {2, 3})  // 2: the vectorized path; 3: the general one (the 2x2 window at the corner)
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = i + 1; j < 4; ++j) {
          std::vector<double> v(static_cast<size_t>(size * size), -1.0);
          auto at = [&](int64_t k) { return static_cast<size_t>((k / 2) * size + k % 2); };
          v[at(i)] = v[at(j)] = NAN;
          const tg::Tensor x = tg::reshape(tg::tensor_rank1(v, d), {1, 1, size, size}).requires_grad(true);
          const tg::Tensor y = tg::max_pool2d(x, {.kernel = 2});
          EXPECT_TRUE(std::isnan(y.to_vector<double>()[0]));
          tg::sum(y).backward();
          std::vector<double> want(v.size(), 0.0);
          want[at(j)] = 1.0;
          EXPECT_EQ(x.grad().to_vector<double>(), want) << "NaNs at " << i << " and " << j << ", size " << size;
          const tg::Tensor g = tg::grad(tg::sum(tg::max_pool2d(x, {.kernel = 2})), {x}, {.create_graph = true})[0];
          EXPECT_EQ(g.to_vector<double>(), want) << "create_graph, NaNs at " << i << " and " << j;
        }
  // A 3x3 window with padding: three NaNs, the last one wins.
  std::vector<double> v(9, 0.0);
  v[0] = v[4] = v[7] = NAN;
  const tg::Tensor x = tg::reshape(tg::tensor_rank1(v, tg::Dtype::f64), {1, 1, 3, 3}).requires_grad(true);
  tg::sum(tg::max_pool2d(x, {.kernel = 3, .stride = 3, .padding = 1})).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 0, 0, 1, 0, 0, 0, 0}))
      << "the window of output 0 is rows -1..1, cols -1..1: NaNs at 0 and 4, the last is 4";
}

// Overlapping windows with padding: a direct maximum over the clipped window, padding never wins.
TEST(OpsConv, MaxPoolWithPaddingAndStrideMatchesTheDirectMaximum) {
  tg::Generator gen(5);
  const tg::Tensor x = tg::randn({2, 3, 7, 6}, gen, tg::Dtype::f64) - 5.0;  // all negative: padding zeros would win
  const tg::Tensor y = tg::max_pool2d(x, {.kernel = 3, .stride = 2, .padding = 1});
  ASSERT_EQ(y.shape(), tg::Shape({2, 3, 4, 3}));
  const auto X = x.to_vector<double>(), Y = y.to_vector<double>();
  for (int64_t p = 0; p < 6; ++p)
    for (int64_t oy = 0; oy < 4; ++oy)
      for (int64_t ox = 0; ox < 3; ++ox) {
        double m = -INFINITY;
        for (int64_t iy = std::max<int64_t>(0, 2 * oy - 1); iy < std::min<int64_t>(7, 2 * oy + 2); ++iy)
          for (int64_t ix = std::max<int64_t>(0, 2 * ox - 1); ix < std::min<int64_t>(6, 2 * ox + 2); ++ix)
            m = std::max(m, X[size_t((p * 7 + iy) * 6 + ix)]);
        EXPECT_EQ(Y[size_t((p * 4 + oy) * 3 + ox)], m);
      }
}

// Padded positions count as zeros in the mean: the divisor is always kernel^2.
TEST(OpsConv, AvgPoolCountsPaddingInTheDivisor) {
  const tg::Tensor x = tg::reshape(tg::tensor_rank1({1, 2, 3, 4}, tg::Dtype::f64), {1, 1, 2, 2}).requires_grad(true);
  const tg::Tensor y = tg::avg_pool2d(x, {.kernel = 2, .stride = 1, .padding = 1});
  ASSERT_EQ(y.shape(), tg::Shape({1, 1, 3, 3}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{0.25, 0.75, 0.5, 1, 2.5, 1.5, 0.75, 1.75, 1}));
  tg::sum(y).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 1, 1, 1}));  // each in 4 windows, 1/4 each
}

TEST(OpsConv, PoolErrorsNameTheCall) {
  EXPECT_NE(message_of([] { tg::max_pool2d(tg::zeros({3, 4, 4}), {.kernel = 2}); }).find("x must be [N, C, H, W]"),
            std::string::npos);
  EXPECT_NE(message_of([] { tg::avg_pool2d(tg::zeros({1, 1, 4, 4}), {.kernel = 2, .padding = 2}); })
                .find("padding must be at most half the kernel"),
            std::string::npos);
  EXPECT_NE(message_of([] { tg::max_pool2d(tg::zeros({1, 1, 2, 2}), {.kernel = 3}); }).find("larger than the padded input"),
            std::string::npos);
}

// Training mode normalises with the batch's statistics and moves the running ones towards them
// (the variance unbiased); eval mode uses the running ones.
TEST(OpsConv, BatchNormTrainingAndEval) {
  const tg::Tensor x = tg::reshape(tg::tensor_rank1({1, 10, 3, 20, 5, 30, 7, 40}, tg::Dtype::f64), {4, 2});
  tg::Tensor rm = tg::zeros({2}, tg::Dtype::f64), rv = tg::ones({2}, tg::Dtype::f64);
  const tg::Tensor w = tg::tensor_rank1({2, 1}, tg::Dtype::f64), b = tg::tensor_rank1({0, 1}, tg::Dtype::f64);
  const tg::Tensor y = tg::batch_norm(x, w, b, rm, rv, {.training = true, .momentum = 0.1, .eps = 0});
  // channel 0 holds 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3); channel 1 holds 10, 20, 30, 40.
  const std::vector<double> v = y.to_vector<double>();
  EXPECT_NEAR(v[0], 2 * (1 - 4) / std::sqrt(5.0), 1e-12);
  EXPECT_NEAR(v[3], 1 + (20 - 25) / std::sqrt(125.0), 1e-12);
  EXPECT_NEAR(rm.to_vector<double>()[0], 0.4, 1e-12);
  EXPECT_NEAR(rm.to_vector<double>()[1], 2.5, 1e-12);
  EXPECT_NEAR(rv.to_vector<double>()[0], 0.9 + 0.1 * 20.0 / 3, 1e-12);
  EXPECT_NEAR(rv.to_vector<double>()[1], 0.9 + 0.1 * 500.0 / 3, 1e-12);
  const tg::Tensor e = tg::batch_norm(x, w, b, rm, rv, {.training = false, .eps = 0});
  EXPECT_NEAR(e.to_vector<double>()[0], 2 * (1 - 0.4) / std::sqrt(0.9 + 2.0 / 3), 1e-12);
  EXPECT_NEAR(rm.to_vector<double>()[0], 0.4, 1e-12);  // eval leaves them alone
}

TEST(OpsConv, BatchNormErrors) {
  const tg::Tensor x = tg::zeros({1, 3});
  EXPECT_NE(message_of([&] { tg::batch_norm(x, {}, {}, {}, {}); }).find("more than one value per channel"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tg::batch_norm(tg::zeros({4, 3}), tg::ones({2}), {}, {}, {}); })
                .find("weight has shape [2], expected [3]"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tg::batch_norm(tg::zeros({4, 3}), {}, {}, {}, {}, {.training = false}); })
                .find("eval mode needs running_mean and running_var"),
            std::string::npos);
  EXPECT_NE(message_of([&] { tg::batch_norm(tg::zeros({4, 3}), {}, {}, tg::zeros({3}), {}); }).find("or neither"),
            std::string::npos);
}

// Large enough for the images to run on two threads (as the CNN's second layer at batch 64): the
// output and all three gradients are the same bits on one thread and on two, in float32 and under
// bfloat16 autocast, since each image is computed whole by one thread and the weight gradient is
// summed in chunks of the batch, not of the threads.
// The second shape's per-image weight-gradient product (288 x 64 x 784) is large enough that a
// product on its own would split over threads: inside the images' parallel parts it must not.
TEST(OpsConv, ResultsDoNotDependOnTheThreadCount) {
  for (const auto& [xs, ws] : {std::pair<tg::Shape, tg::Shape>{{32, 16, 14, 14}, {32, 16, 3, 3}},
                               std::pair<tg::Shape, tg::Shape>{{32, 32, 28, 28}, {64, 32, 3, 3}}}) {
  tg::Generator gen(41);
  const tg::Tensor x0 = tg::randn(xs, gen), w0 = tg::randn(ws, gen);
  const tg::Tensor b0 = tg::randn({ws[0]}, gen), up = tg::randn({xs[0], ws[0], xs[2], xs[3]}, gen);
  for (bool bf16 : {false, true}) {
    std::vector<std::vector<float>> runs[2];
    for (int threads : {1, 2}) {
      tg::set_num_threads(threads);
      const tg::Tensor x = x0.clone().requires_grad(true), w = w0.clone().requires_grad(true),
                       b = b0.clone().requires_grad(true);
      tg::Tensor y;
      {
        tg::AutocastGuard autocast(bf16 ? tg::Dtype::bf16 : tg::Dtype::f32);
        y = tg::conv2d(x, w, b, {.padding = 1});
      }
      y.backward(up);
      runs[threads - 1] = {y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>(),
                           b.grad().to_vector<float>()};
    }
    tg::set_num_threads(1);
    for (size_t i = 0; i < 4; ++i)
      EXPECT_TRUE(runs[0][i] == runs[1][i]) << "result " << i << (bf16 ? " (bf16)" : "") << " at " << xs.str();
  }
  }
}

// Elementwise loops and pooling above their size threshold run on two threads in parts that do not
// depend on the thread count: forward and gradients are the same bits as on one thread.
TEST(OpsConv, ElementwiseAndPoolingAreTheSameBitsOnTwoThreads) {
  tg::Generator gen(43);
  const tg::Tensor x0 = tg::randn({16, 32, 28, 28}, gen), up = tg::randn({16, 32, 14, 14}, gen);
  std::vector<std::vector<float>> runs[2];
  for (int threads : {1, 2}) {
    tg::set_num_threads(threads);
    const tg::Tensor x = x0.clone().requires_grad(true);
    const tg::Tensor y = tg::max_pool2d(tg::relu(tg::exp(x * 0.5) - 1.0), {.kernel = 2});
    y.backward(up);
    runs[threads - 1] = {y.to_vector<float>(), x.grad().to_vector<float>()};
  }
  tg::set_num_threads(1);
  EXPECT_TRUE(runs[0][0] == runs[1][0]) << "forward";
  EXPECT_TRUE(runs[0][1] == runs[1][1]) << "gradient";
}

// At the CNN's layer shapes float32 conv2d runs on oneDNN's direct convolutions where it is built
// in (the three passes of the 32 -> 64 layer; the 1 -> 32 one stays on im2col): the output and the
// three gradients agree with float64's (the im2col path; oneDNN has no float64), and the passes
// are counted, so the comparison is known to have been of oneDNN's results.
TEST(OpsConv, OneDnnConvolutionsAgreeWithFloat64) {
  for (const auto& [xs, ws] : {std::pair<tg::Shape, tg::Shape>{{20, 32, 14, 14}, {64, 32, 3, 3}},
                               std::pair<tg::Shape, tg::Shape>{{20, 1, 28, 28}, {32, 1, 3, 3}}}) {
    tg::Generator gen(47);
    const tg::Tensor x0 = tg::randn(xs, gen), w0 = tg::randn(ws, gen) * 0.2, b0 = tg::randn({ws[0]}, gen);
    const tg::Tensor up = tg::randn({xs[0], ws[0], xs[2], xs[3]}, gen);
    std::vector<std::vector<double>> got[2];
    int64_t onednn_passes = 0;
    for (tg::Dtype d : {tg::Dtype::f64, tg::Dtype::f32}) {
      const tg::Tensor x = x0.to(d).requires_grad(true), w = w0.to(d).requires_grad(true),
                       b = b0.to(d).requires_grad(true);
      const tg::GemmPathCounts before = tg::gemm_path_counts();
      const tg::Tensor y = tg::conv2d(x, w, b, {.padding = 1});
      y.backward(up.to(d));
      onednn_passes = tg::gemm_path_counts().onednn_conv - before.onednn_conv;
      got[d == tg::Dtype::f32] = {y.to(tg::Dtype::f64).to_vector<double>(), x.grad().to(tg::Dtype::f64).to_vector<double>(),
                                  w.grad().to(tg::Dtype::f64).to_vector<double>(), b.grad().to(tg::Dtype::f64).to_vector<double>()};
    }
    const char* names[] = {"output", "input gradient", "weight gradient", "bias gradient"};
    for (size_t i = 0; i < 4; ++i) {
      double scale = 0, err = 0;
      for (size_t k = 0; k < got[0][i].size(); ++k) {
        scale = std::max(scale, std::abs(got[0][i][k]));
        err = std::max(err, std::abs(got[0][i][k] - got[1][i][k]));
      }
      EXPECT_LE(err, 1e-5 * scale) << names[i] << " at " << xs.str();
    }
    // 16 chunks per pass, three passes at 32 channels in; none at 1.
    const bool onednn_built = tg::bf16_path().find("built without oneDNN") == std::string::npos;
    EXPECT_EQ(onednn_passes, onednn_built && xs[1] == 32 ? 48 : 0) << xs.str();
  }
}
