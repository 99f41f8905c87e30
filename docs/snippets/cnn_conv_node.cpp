// conv2d is one node on the tape. Its backward gives the weight gradient (the input correlated
// with the output gradient) and the input gradient (the output gradient fully correlated with
// the flipped kernel: a transposed convolution); both are checked here against plain loops.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <vector>

namespace tg = tapegrad;

// Prints the one plane of a [1, 1, H, W] tensor, a row per line.
void print_plane(const char* title, const tg::Tensor& t) {
  std::printf("%s\n", title);
  for (int64_t r = 0; r < t.size(2); ++r) {
    for (int64_t c = 0; c < t.size(3); ++c) std::printf(" %5g", t.at({0, 0, r, c}));
    std::printf("\n");
  }
}

int main() {
  const tg::Dtype f64 = tg::Dtype::f64;
  // One 4x4 image with one channel (NCHW: [1, 1, 4, 4]) holding 1..16, one 3x3 kernel
  // ([out, in, kh, kw] = [1, 1, 3, 3]) and its bias.
  std::vector<double> pixels(16);
  for (int i = 0; i < 16; ++i) pixels[i] = i + 1;
  tg::Tensor x = tg::from_vector(pixels, {1, 1, 4, 4}, f64).requires_grad(true);
  const std::vector<double> kernel{1, 0, -1, 2, 1, 0, 0, -1, 1};
  tg::Tensor w = tg::from_vector(kernel, {1, 1, 3, 3}, f64).requires_grad(true);
  tg::Tensor b = tg::from_vector(std::vector<double>{0.5}, {1}, f64).requires_grad(true);

  tg::Tensor y = tg::conv2d(x, w, b, {.stride = 1, .padding = 1});  // "same": 4x4 out
  print_plane("y = conv2d(x, w, b, padding 1):", y);
  for (const tg::NodeView& node : tg::Tape::current().nodes_of(y)) {
    std::printf("tape node %zu: %s, inputs", node.position, node.op.c_str());
    for (const tg::Tensor& in : node.inputs) std::printf(" %s", in.shape().str().c_str());
    std::printf(", output %s\n", node.output.shape().str().c_str());
  }

  // Backward from an upstream gradient g = dL/dy.
  const std::vector<double> gv{1, 0, 0, -1, 0, 2, 0, 0, 0, 0, -1, 0, 1, 0, 0, 1};
  y.backward(tg::from_vector(gv, {1, 1, 4, 4}, f64));
  print_plane("dL/dw from backward():", w.grad());

  // The same by hand. X(r, c) and G(r, c) read zero outside the image.
  auto X = [&](int64_t r, int64_t c) { return r < 0 || r > 3 || c < 0 || c > 3 ? 0.0 : pixels[r * 4 + c]; };
  auto G = [&](int64_t r, int64_t c) { return r < 0 || r > 3 || c < 0 || c > 3 ? 0.0 : gv[r * 4 + c]; };
  auto W = [&](int64_t i, int64_t j) { return kernel[i * 3 + j]; };
  // dL/dw[i][j] = sum over outputs of x under tap (i, j) times g: the correlation of x with g.
  bool w_ok = true;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      double s = 0;
      for (int64_t oy = 0; oy < 4; ++oy)
        for (int64_t ox = 0; ox < 4; ++ox) s += X(oy - 1 + i, ox - 1 + j) * G(oy, ox);
      w_ok = w_ok && s == w.grad().at({0, 0, i, j});
    }
  // dL/dx[r][c] = the full correlation of g (padded by kh - 1 - padding = 1) with the kernel
  // flipped in both axes: the transposed convolution.
  bool x_ok = true;
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t c = 0; c < 4; ++c) {
      double s = 0;
      for (int64_t a = 0; a < 3; ++a)
        for (int64_t e = 0; e < 3; ++e) s += G(r - 1 + a, c - 1 + e) * W(2 - a, 2 - e);
      x_ok = x_ok && s == x.grad().at({0, 0, r, c});
    }
  print_plane("dL/dx from backward():", x.grad());
  std::printf("dL/dw equals the correlation loop: %s\n", w_ok ? "yes" : "NO");
  std::printf("dL/dx equals the flipped-kernel loop: %s\n", x_ok ? "yes" : "NO");
  std::printf("dL/db = sum of g = %g\n", b.grad().item());

  // The same node against central differences, with stride 2 and dilation as well.
  for (tg::Conv2dOptions o : {tg::Conv2dOptions{.padding = 1}, tg::Conv2dOptions{.stride = 2, .padding = 1},
                              tg::Conv2dOptions{.padding = 2, .dilation = 2}}) {
    auto f = [o](const std::vector<tg::Tensor>& in) { return tg::conv2d(in[0], in[1], in[2], o); };
    const tg::GradcheckReport r = tg::gradcheck(f, {x.detach(), w.detach(), b.detach()});
    std::printf("gradcheck conv2d stride %lld, padding %lld, dilation %lld: %s (%s)\n",
                static_cast<long long>(o.stride), static_cast<long long>(o.padding),
                static_cast<long long>(o.dilation), r.ok ? "PASSED" : "FAILED", r.method.c_str());
  }
  return w_ok && x_ok ? 0 : 1;
}
