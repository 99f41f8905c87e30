// Where pooling sends the gradient: max_pool2d gives each window's gradient to its winner (the
// first maximal element in row-major order on a tie, a NaN if there is one); avg_pool2d spreads
// it evenly, padding included in the divisor.
#include <tapegrad/tapegrad.h>

#include <cmath>
#include <cstdio>
#include <vector>

namespace tg = tapegrad;

void print_plane(const char* title, const tg::Tensor& t) {
  std::printf("%s\n", title);
  for (int64_t r = 0; r < t.size(2); ++r) {
    for (int64_t c = 0; c < t.size(3); ++c) {
      const double v = t.at({0, 0, r, c});
      if (std::isnan(v)) std::printf("    nan");
      else std::printf(" %6.4g", v);
    }
    std::printf("\n");
  }
}

// Pools a fresh copy of `pixels` with `pool`, runs backward from `upstream` and prints both.
template <class Pool>
void route(const char* name, const std::vector<double>& pixels, Pool pool, const std::vector<double>& upstream) {
  tg::Tensor x = tg::from_vector(pixels, {1, 1, 4, 4}, tg::Dtype::f64).requires_grad(true);
  tg::Tensor y = pool(x);
  std::printf("== %s\n", name);
  print_plane("y:", y);
  y.backward(tg::from_vector(upstream, y.shape(), tg::Dtype::f64));
  print_plane("dL/dx:", x.grad());
}

int main() {
  // Windows of 2x2: the top-left one holds two 3s, the top-right two 2s, the bottom-left two 5s.
  std::vector<double> pixels{1, 3, 2, 2,
                             3, 0, 1, 0,
                             5, 4, 0, -1,
                             0, 5, -2, -3};
  const std::vector<double> g{10, 20, 30, 40};  // dL/dy, one value per window: easy to follow
  std::printf("x:\n");
  for (int r = 0; r < 4; ++r) std::printf(" %6g %6g %6g %6g\n", pixels[4 * r], pixels[4 * r + 1], pixels[4 * r + 2], pixels[4 * r + 3]);

  route("max_pool2d, kernel 2 (stride = kernel)", pixels,
        [](const tg::Tensor& x) { return tg::max_pool2d(x, {.kernel = 2}); }, g);
  route("avg_pool2d, kernel 2", pixels, [](const tg::Tensor& x) { return tg::avg_pool2d(x, {.kernel = 2}); }, g);
  // Padding 1: 3x3 windows of the 6x6 padded image; each divides by 4, zeros included.
  route("avg_pool2d, kernel 2, padding 1", pixels,
        [](const tg::Tensor& x) { return tg::avg_pool2d(x, {.kernel = 2, .stride = 2, .padding = 1}); },
        {1, 1, 1, 1, 1, 1, 1, 1, 1});

  std::vector<double> with_nan = pixels;
  with_nan[5] = NAN;  // inside the top-left window, after its 3s: the NaN still wins
  route("max_pool2d with a NaN", with_nan, [](const tg::Tensor& x) { return tg::max_pool2d(x, {.kernel = 2}); }, g);
}
