// Changing a tensor's shape: unsqueeze, squeeze and flatten are views (reshapes sharing the
// storage, so a write through one bumps the same version counter); permute, transpose of two
// axes and expand copy. Forward beside backward.
#include <algorithm>

#include "ops/loops.h"

namespace tapegrad {

using namespace detail;

namespace {
SampleInputs one(const Shape& s, const char* label) {
  return [s, label](Dtype d, Generator& g) { return std::vector<OpSample>{{{samples::normal(s, d, g)}, label}}; };
}
}  // namespace

// ---- views ----
Tensor unsqueeze(const Tensor& x, int64_t axis) {
  defined("unsqueeze", x);
  const int64_t r = x.dim();
  if (axis < -(r + 1) || axis > r)
    throw Error("unsqueeze: axis " + std::to_string(axis) + " is out of range for a new axis of shape " + x.shape().str() +
                " (from " + std::to_string(-(r + 1)) + " to " + std::to_string(r) + ")");
  std::vector<int64_t> s = x.shape().vec();
  s.insert(s.begin() + (axis < 0 ? axis + r + 1 : axis), 1);
  return reshape(x, s);
}
static RegisterOp reg_unsqueeze({.name = "unsqueeze",
                                 .variant = "axis=-1",
                                 .fn = [](auto& in) { return unsqueeze(in[0], -1); },
                                 .samples = one({2, 3}, "matrix")});

Tensor squeeze(const Tensor& x, int64_t axis) {
  defined("squeeze", x);
  const size_t ax = normalize_axis("squeeze", axis, x.shape());
  if (x.shape()[ax] != 1)
    throw Error("squeeze: axis " + std::to_string(axis) + " of " + x.shape().str() + " has size " +
                std::to_string(x.shape()[ax]) + ", not 1");
  return reshape(x, reduced_shape(x.shape(), ax, false).vec());
}
Tensor squeeze(const Tensor& x) {
  defined("squeeze", x);
  std::vector<int64_t> s;
  for (int64_t d : x.shape().vec())
    if (d != 1) s.push_back(d);
  return reshape(x, s);
}
static RegisterOp reg_squeeze({.name = "squeeze",
                               .variant = "axis=1",
                               .fn = [](auto& in) { return squeeze(in[0], 1); },
                               .samples = one({2, 1, 3}, "[2,1,3]")});
static RegisterOp reg_squeeze_all({.name = "squeeze",
                                   .variant = "all",
                                   .fn = [](auto& in) { return squeeze(in[0]); },
                                   .samples = one({1, 2, 1}, "[1,2,1]")});

Tensor flatten(const Tensor& x, int64_t start, int64_t end) {
  defined("flatten", x);
  if (x.dim() == 0) return reshape(x, {1});
  const size_t a = normalize_axis("flatten", start, x.shape()), b = normalize_axis("flatten", end, x.shape());
  if (a > b)
    throw Error("flatten: start axis " + std::to_string(start) + " comes after end axis " + std::to_string(end) +
                " in shape " + x.shape().str());
  std::vector<int64_t> s;
  const std::vector<int64_t> in = x.shape().vec();
  for (size_t d = 0; d < a; ++d) s.push_back(in[d]);
  s.push_back(-1);
  for (size_t d = b + 1; d < in.size(); ++d) s.push_back(in[d]);
  if (x.numel() == 0) {  // -1 cannot be inferred from zero elements: compute the product
    int64_t n = 1;
    for (size_t d = a; d <= b; ++d) n *= in[d];
    s[a] = n;
  }
  return reshape(x, s);
}
static RegisterOp reg_flatten({.name = "flatten",
                               .variant = "all",
                               .fn = [](auto& in) { return flatten(in[0]); },
                               .samples = one({2, 3, 2}, "3-D")});
static RegisterOp reg_flatten_tail({.name = "flatten",
                                    .variant = "start=1",
                                    .fn = [](auto& in) { return flatten(in[0], 1); },
                                    .samples = one({2, 3, 2}, "3-D")});

// ---- permute: out's axis d is x's axis perm[d] (a copy); the gradient is permuted back ----
struct PermuteArgs {
  std::vector<int64_t> perm;
};
namespace {
Tensor permute_copy(const Tensor& x, const std::vector<int64_t>& perm) {
  const std::vector<int64_t> in = x.shape().vec();
  const size_t r = in.size();
  std::vector<int64_t> out_shape(r), in_stride(r), stride(r);
  int64_t st = 1;
  for (size_t d = r; d-- > 0;) {
    in_stride[d] = st;
    st *= in[d];
  }
  for (size_t d = 0; d < r; ++d) {
    out_shape[d] = in[static_cast<size_t>(perm[d])];
    stride[d] = in_stride[static_cast<size_t>(perm[d])];  // x's stride for out's axis d
  }
  Tensor out = make_tensor(Shape(out_shape), x.dtype(), "permute");
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* p = ptr<T>(x);
    T* q = ptr<T>(out);
    const int64_t n = out.numel();
    if (n == 0) return;
    std::vector<int64_t> idx(r, 0);
    int64_t off = 0;
    for (int64_t k = 0; k < n; ++k) {
      q[k] = p[off];
      for (size_t d = r; d-- > 0;) {
        off += stride[d];
        if (++idx[d] < out_shape[d]) break;
        off -= stride[d] * out_shape[d];
        idx[d] = 0;
      }
    }
  });
  return out;
}
}  // namespace
static const Op<PermuteArgs> kPermute(
    {.name = "permute",
     .forward =
         [](Inputs in, PermuteArgs& a) {
           const Tensor& x = in[0];
           const size_t r = static_cast<size_t>(x.dim());
           std::string listed = "[";
           for (size_t d = 0; d < a.perm.size(); ++d) listed += (d ? ", " : "") + std::to_string(a.perm[d]);
           listed += "]";
           if (a.perm.size() != r)
             throw Error("permute: " + listed + " has " + std::to_string(a.perm.size()) + " axes, but shape " +
                         x.shape().str() + " has " + std::to_string(r));
           std::vector<bool> seen(r, false);
           for (int64_t& p : a.perm) {
             p = static_cast<int64_t>(normalize_axis("permute", p, x.shape()));
             if (seen[static_cast<size_t>(p)])
               throw Error("permute: " + listed + " names axis " + std::to_string(p) + " twice (shape " + x.shape().str() + ")");
             seen[static_cast<size_t>(p)] = true;
           }
           return permute_copy(x, a.perm);
         },
     .backward =
         [](BackwardContext& c, const PermuteArgs& a) {
           std::vector<int64_t> inverse(a.perm.size());
           for (size_t d = 0; d < a.perm.size(); ++d) inverse[static_cast<size_t>(a.perm[d])] = static_cast<int64_t>(d);
           c.accumulate(0, permute(c.grad(), inverse));  // the op, not the copy: a create_graph pass records it
         },
     .samples = {{.label = "{2, 0, 1}", .args = {{2, 0, 1}}, .inputs = one({2, 3, 4}, "3-D")},
                 {.label = "{-1, 0}", .args = {{-1, 0}}, .inputs = one({3, 2}, "matrix")}}});
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm) { return kPermute({x}, {perm}); }

// ---- transpose of two axes, any rank: a permute that swaps them ----
Tensor transpose(const Tensor& x, int64_t a, int64_t b) {
  defined("transpose", x);
  const size_t i = normalize_axis("transpose", a, x.shape()), j = normalize_axis("transpose", b, x.shape());
  std::vector<int64_t> perm(static_cast<size_t>(x.dim()));
  for (size_t d = 0; d < perm.size(); ++d) perm[d] = static_cast<int64_t>(d);
  std::swap(perm[i], perm[j]);
  return permute(x, perm);
}
static RegisterOp reg_transpose_axes({.name = "transpose",
                                      .variant = "axes 1 and -1 of 3-D",
                                      .fn = [](auto& in) { return transpose(in[0], 1, -1); },
                                      .samples = one({2, 3, 4}, "3-D")});

// ---- expand: broadcast_to, where -1 keeps a dimension (a copy; the gradient is summed back) ----
Tensor expand(const Tensor& x, const std::vector<int64_t>& shape) {
  defined("expand", x);
  const std::vector<int64_t> in = x.shape().vec();
  if (shape.size() < in.size())
    throw Error("expand: shape " + Shape(shape).str() + " has fewer dimensions than " + x.shape().str());
  std::vector<int64_t> target = shape;
  for (size_t d = 0; d < target.size(); ++d) {
    const size_t shift = target.size() - in.size();
    if (target[d] == -1) {
      if (d < shift)
        throw Error("expand: -1 at dimension " + std::to_string(d) + " of " + Shape(shape).str() +
                    " names a new dimension of " + x.shape().str() + ", which has no size to keep");
      target[d] = in[d - shift];
    }
  }
  const Shape want(target);
  if (broadcast_shapes("expand", x.shape(), want) != want)
    throw Error("expand: shape " + x.shape().str() + " cannot be expanded to " + want.str());
  return broadcast_to(x, want);
}
static RegisterOp reg_expand({.name = "expand",
                              .variant = "[3,1] to [2,-1,4]",
                              .fn = [](auto& in) { return expand(in[0], {2, -1, 4}); },
                              .samples = one({3, 1}, "[3,1]")});

}  // namespace tapegrad
