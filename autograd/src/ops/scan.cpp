// Running sums along an axis. Forward beside backward.
#include "ops/loops.h"

namespace tapegrad {

using namespace detail;

namespace {
// out[j] = sum of x[0..j] along each lane, or, reversed, of x[j..n-1] (the gradient of a cumsum
// is the reversed cumsum of the upstream gradient). The running sum is kept in float64.
Tensor running_sum(const Tensor& x, size_t axis, bool reversed) {
  const Lanes l = lanes(x.shape(), axis);
  Tensor out = make_tensor(x.shape(), x.dtype(), "cumsum");
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(x);
    T* q = ptr<T>(out);
    for_each_lane(l, [&](int64_t off, int64_t st) {
      double run = 0;
      for (int64_t i = 0; i < l.n; ++i) {
        const int64_t j = reversed ? l.n - 1 - i : i;
        run += static_cast<double>(p[off + j * st]);
        q[off + j * st] = static_cast<T>(run);
      }
    });
  });
  return out;
}
}  // namespace

struct CumsumArgs {
  int64_t axis;
};
namespace {
const std::vector<Sample<CumsumArgs>> kCumsumSamples = {
    {.label = "axis=1",
     .args = {1},
     .inputs = [](Dtype d, Generator& g) {
       return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"},
                                    {{samples::normal({2, 3, 2}, d, g)}, "3-D"}};
     }},
    {.label = "axis=-1", .args = {-1}, .inputs = [](Dtype d, Generator& g) {
       return std::vector<OpSample>{{{samples::normal({5}, d, g)}, "vector"}};
     }}};
}  // namespace

// ---- cumsum_backward: cumsum's gradient, the reversed running sum. Linear, and its adjoint is the
// forward running sum: its own backward is cumsum. Same shapes as cumsum, so the same samples ----
static const Op<CumsumArgs> kCumsumBackward(
    {.name = "cumsum_backward",
     .forward =
         [](Inputs in, CumsumArgs& a) {
           const size_t ax = normalize_axis("cumsum_backward", a.axis, in[0].shape());
           a.axis = static_cast<int64_t>(ax);
           return running_sum(in[0], ax, true);
         },
     .backward = [](BackwardContext& c, const CumsumArgs& a) { c.accumulate(0, cumsum(c.grad(), a.axis)); },
     .samples = kCumsumSamples});

static const Op<CumsumArgs> kCumsum(
    {.name = "cumsum",
     .forward =
         [](Inputs in, CumsumArgs& a) {
           const size_t ax = normalize_axis("cumsum", a.axis, in[0].shape());
           a.axis = static_cast<int64_t>(ax);
           return running_sum(in[0], ax, false);
         },
     .backward =
         [](BackwardContext& c, const CumsumArgs& a) { c.accumulate(0, kCumsumBackward({c.grad()}, {a.axis})); },
     .samples = kCumsumSamples});
Tensor cumsum(const Tensor& x, int64_t axis) { return kCumsum({x}, {axis}); }

}  // namespace tapegrad
