// Joining tensors along an axis: cat (an existing axis) and stack (a new one). Copies; each input's
// gradient is its part of the upstream gradient.
#include <algorithm>

#include "ops/loops.h"

namespace tapegrad {

using namespace detail;

struct CatArgs {
  int64_t axis;
};
static const Op<CatArgs> kCat(
    {.name = "cat",
     .forward =
         [](Inputs in, CatArgs& a) {
           if (in.size() == 0) throw Error("cat: got no tensors to join");
           const Tensor& first = in[0];
           const size_t ax = normalize_axis("cat", a.axis, first.shape());
           a.axis = static_cast<int64_t>(ax);
           int64_t total = 0;
           for (size_t t = 0; t < in.size(); ++t) {
             same_dtype("cat", first, in[t]);
             const bool fits = in[t].dim() == first.dim() && [&] {
               for (size_t d = 0; d < first.shape().size(); ++d)
                 if (d != ax && in[t].shape()[d] != first.shape()[d]) return false;
               return true;
             }();
             if (!fits)
               throw Error("cat: tensor " + std::to_string(t) + " has shape " + in[t].shape().str() + ", but tensor 0 has " +
                           first.shape().str() + " (all must match except along axis " + std::to_string(ax) + ")");
             total += in[t].shape()[ax];
           }
           std::vector<int64_t> s = first.shape().vec();
           s[ax] = total;
           Tensor out = make_tensor(Shape(s), first.dtype(), "cat");
           const Lanes lo = lanes(out.shape(), ax);
           dispatch(first.dtype(), [&](auto tag) {
             using T = decltype(tag);
             T* q = ptr<T>(out);
             int64_t at = 0;  // where along the axis this input starts
             for (size_t t = 0; t < in.size(); ++t) {
               const Lanes li = lanes(in[t].shape(), ax);
               const T* p = ptr<T>(in[t]);
               const int64_t block = li.n * li.inner;  // one input's contiguous part of an outer row
               for (int64_t o = 0; o < lo.outer; ++o)
                 std::copy(p + o * block, p + (o + 1) * block, q + o * lo.n * lo.inner + at * lo.inner);
               at += li.n;
             }
           });
           return out;
         },
     .backward =
         [](BackwardContext& c, const CatArgs& a) {
           int64_t at = 0;
           for (size_t t = 0; t < c.inputs(); ++t) {
             const int64_t n = c.input(t).shape()[static_cast<size_t>(a.axis)];
             if (c.needs_grad(t)) c.accumulate(t, slice(c.grad(), a.axis, at, at + n));
             at += n;
           }
         },
     .samples = {{.label = "axis=0", .args = {0}, .inputs = [](Dtype d, Generator& g) {
                    auto n = [&](const Shape& s) { return samples::normal(s, d, g); };
                    return std::vector<OpSample>{{{n({2, 3}), n({1, 3}), n({3, 3})}, "three matrices"}};
                  }},
                 {.label = "axis=-1", .args = {-1}, .inputs = [](Dtype d, Generator& g) {
                    auto n = [&](const Shape& s) { return samples::normal(s, d, g); };
                    return std::vector<OpSample>{{{n({2, 2, 1}), n({2, 2, 3})}, "3-D"}};
                  }}}});
Tensor cat(const std::vector<Tensor>& tensors, int64_t axis) { return kCat(Inputs(tensors), {axis}); }

// stack: each tensor gains a size-1 axis (a view), then cat joins them along it.
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis) {
  if (tensors.empty()) throw Error("stack: got no tensors to join");
  for (size_t t = 0; t < tensors.size(); ++t) {
    defined("stack", tensors[t]);
    same_dtype("stack", tensors[0], tensors[t]);
    if (tensors[t].shape() != tensors[0].shape())
      throw Error("stack: tensor " + std::to_string(t) + " has shape " + tensors[t].shape().str() + ", but tensor 0 has " +
                  tensors[0].shape().str() + " (all must be the same)");
  }
  const int64_t r = tensors[0].dim();
  if (axis < -(r + 1) || axis > r)
    throw Error("stack: axis " + std::to_string(axis) + " is out of range for tensors of shape " +
                tensors[0].shape().str() + " (from " + std::to_string(-(r + 1)) + " to " + std::to_string(r) + ")");
  const int64_t at = axis < 0 ? axis + r + 1 : axis;
  std::vector<Tensor> lifted;
  for (const Tensor& t : tensors) lifted.push_back(unsqueeze(t, at));
  return cat(lifted, at);
}
static RegisterOp reg_stack({.name = "stack",
                             .variant = "axis=1",
                             .fn = [](auto& in) { return stack(in, 1); },
                             .samples = [](Dtype d, Generator& g) {
                               auto n = [&](const Shape& s) { return samples::normal(s, d, g); };
                               return std::vector<OpSample>{{{n({2, 3}), n({2, 3})}, "two matrices"}};
                             }});

}  // namespace tapegrad
