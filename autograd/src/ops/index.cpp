// Taking parts of a tensor along one axis: slice, select, index_select and gather. All return
// copies (a tensor here is one contiguous buffer, with no strides to make a view of a part); the
// gradient goes back to the positions taken, added where an index repeats.
#include <algorithm>

#include "ops/loops.h"

namespace tapegrad {

using namespace detail;

namespace {
// Copies, for every lane along the axis, element pick(j) of x's lane into element j of out's lane
// (or, with add, adds element j of out's lane into element pick(j) of x's: the backward).
// `first` >= 0 says pick(j) = first + j (a slice with step 1, a select): then each outer block
// is one contiguous run, copied or added whole (an LSTM's gates and states are sliced so, every
// step).
template <class Pick>
void along_axis(const Tensor& x, const Tensor& out, size_t axis, Pick pick, bool scatter_add, int64_t first = -1) {
  const Lanes lx = lanes(x.shape(), axis), lo = lanes(out.shape(), axis);
  dispatch(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = ptr<T>(x);
    T* q = ptr<T>(out);
    if (first >= 0) {
      const int64_t run = lo.n * lx.inner;
      for (int64_t o = 0; o < lx.outer; ++o) {
        T* src = p + o * lx.n * lx.inner + first * lx.inner;
        T* dst = q + o * run;
        if (scatter_add) {
          for (int64_t k = 0; k < run; ++k) src[k] += dst[k];
        } else {
          std::copy(src, src + run, dst);
        }
      }
      return;
    }
    for (int64_t o = 0; o < lx.outer; ++o)
      for (int64_t i = 0; i < lx.inner; ++i) {
        const int64_t xo = o * lx.n * lx.inner + i, oo = o * lo.n * lo.inner + i;
        for (int64_t j = 0; j < lo.n; ++j) {
          T& src = p[xo + pick(j) * lx.inner];
          T& dst = q[oo + j * lo.inner];
          if (scatter_add) src += dst;
          else dst = src;
        }
      }
  });
}

Shape with_size(const Shape& s, size_t axis, int64_t n) {
  std::vector<int64_t> v = s.vec();
  v[axis] = n;
  return Shape(v);
}
}  // namespace

// ---- slice: elements begin, begin + step, ... before end along the axis, Python's x[begin:end:step]
// (negative begin and end count from the end; both are clamped to the axis) ----
struct SliceArgs {
  int64_t axis, begin, end, step;
};
namespace {
// Makes begin and end of a slice along an axis of size n canonical (clamped, end >= begin) and
// returns the number of elements taken; `s` is the shape reported in errors.
int64_t resolve_slice(const char* op, SliceArgs& a, int64_t n, const Shape& s) {
  if (a.step < 1)
    throw Error(std::string(op) + ": step must be >= 1, got " + std::to_string(a.step) + " (shape " + s.str() + ")");
  auto clamp_index = [n](int64_t i) { return std::clamp(i < 0 ? i + n : i, int64_t{0}, n); };
  a.begin = clamp_index(a.begin);
  a.end = std::max(a.begin, clamp_index(a.end));
  return (a.end - a.begin + a.step - 1) / a.step;
}
}  // namespace

// ---- slice_backward: slice's gradient, g's elements put back where they were taken from an axis
// of size n, zeros elsewhere. Linear in g, so its own backward is the slice again ----
struct SliceBackwardArgs {
  SliceArgs slice;
  int64_t n;  // the size of the sliced axis
};
static const Op<SliceBackwardArgs> kSliceBackward(
    {.name = "slice_backward",
     .forward =
         [](Inputs in, SliceBackwardArgs& a) {
           const Tensor& g = in[0];
           const size_t ax = normalize_axis("slice_backward", a.slice.axis, g.shape());
           a.slice.axis = static_cast<int64_t>(ax);
           if (a.n < 0) throw Error("slice_backward: the axis size must be >= 0, got " + std::to_string(a.n));
           const int64_t count = resolve_slice("slice_backward", a.slice, a.n, g.shape());
           if (g.shape()[ax] != count)
             throw Error("slice_backward: a gradient of shape " + g.shape().str() + " has " +
                         std::to_string(g.shape()[ax]) + " elements along axis " + std::to_string(ax) +
                         ", but the slice " + std::to_string(a.slice.begin) + ":" + std::to_string(a.slice.end) + ":" +
                         std::to_string(a.slice.step) + " of an axis of size " + std::to_string(a.n) + " takes " +
                         std::to_string(count));
           Tensor gx = zeros(with_size(g.shape(), ax, a.n), g.dtype());
           along_axis(gx, g, ax, [&](int64_t j) { return a.slice.begin + j * a.slice.step; }, true,
                      a.slice.step == 1 ? a.slice.begin : -1);
           return gx;
         },
     .backward =
         [](BackwardContext& c, const SliceBackwardArgs& a) {
           c.accumulate(0, slice(c.grad(), a.slice.axis, a.slice.begin, a.slice.end, a.slice.step));
         },
     // slice's samples, seen from the output: the gradient of each of them.
     .samples = {{.label = "axis=1, 1:3 of 4", .args = {{1, 1, 3, 1}, 4}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 2}, d, g)}, "matrix"}};
                  }},
                 {.label = "axis=-1, -5:100:2 of 5",
                  .args = {{-1, -5, 100, 2}, 5},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 2, 3}, d, g)}, "3-D, clamped bounds"}};
                  }}}});

static const Op<SliceArgs> kSlice(
    {.name = "slice",
     .forward =
         [](Inputs in, SliceArgs& a) {
           const Tensor& x = in[0];
           const size_t ax = normalize_axis("slice", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           const int64_t count = resolve_slice("slice", a, x.shape()[ax], x.shape());
           Tensor out = make_tensor(with_size(x.shape(), ax, count), x.dtype(), "slice");
           along_axis(x, out, ax, [&](int64_t j) { return a.begin + j * a.step; }, false, a.step == 1 ? a.begin : -1);
           return out;
         },
     .backward =
         [](BackwardContext& c, const SliceArgs& a) {
           c.accumulate(0, kSliceBackward({c.grad()}, {a, c.input(0).shape()[static_cast<size_t>(a.axis)]}));
         },
     .samples = {{.label = "axis=1, 1:3", .args = {1, 1, 3, 1}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                  }},
                 {.label = "axis=-1, -5:100:2", .args = {-1, -5, 100, 2}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 2, 5}, d, g)}, "3-D, clamped bounds"}};
                  }}}});
Tensor slice(const Tensor& x, int64_t axis, int64_t begin, int64_t end, int64_t step) {
  return kSlice({x}, {axis, begin, end, step});
}

// ---- select: x[..., i, ...], the axis dropped. One node named select, as the user called it (not
// the slice and reshape it is made of); its gradient is slice's, put back with the axis ----
struct SelectArgs {
  int64_t axis, index;
};
static const Op<SelectArgs> kSelect(
    {.name = "select",
     .forward =
         [](Inputs in, SelectArgs& a) {
           const Tensor& x = in[0];
           const size_t ax = normalize_axis("select", a.axis, x.shape());
           const int64_t n = x.shape()[ax];
           if (a.index < -n || a.index >= n)
             throw Error("select: index " + std::to_string(a.index) + " is out of range for axis " +
                         std::to_string(a.axis) + " of size " + std::to_string(n) + " (shape " + x.shape().str() + ")");
           a.axis = static_cast<int64_t>(ax);
           if (a.index < 0) a.index += n;
           Tensor out = make_tensor(reduced_shape(x.shape(), ax, false), x.dtype(), "select");
           along_axis(x, make_view(out, with_size(x.shape(), ax, 1)), ax, [&](int64_t) { return a.index; }, false,
                      a.index);
           return out;
         },
     .backward =
         [](BackwardContext& c, const SelectArgs& a) {
           c.accumulate_part(0, c.take_grad(), static_cast<size_t>(a.axis), a.index);
         },
     .samples = {{.label = "axis=1, index=-1", .args = {1, -1}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix"}};
                  }},
                 {.label = "axis=0, index=1", .args = {0, 1}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 3, 2}, d, g)}, "3-D"}};
                  }}}});
Tensor detail::place_along(const Tensor& g, const Shape& shape, size_t axis, int64_t index) {
  const Tensor g1 = reshape(g, with_size(shape, axis, 1).vec());
  return kSliceBackward({g1}, {{static_cast<int64_t>(axis), index, index + 1, 1}, shape[axis]});
}

Tensor select(const Tensor& x, int64_t axis, int64_t index) {
  defined("select", x);
  return kSelect({x}, {axis, index});
}

// ---- index_select: the positions `indices` along the axis, in that order (repeats allowed) ----
namespace {
// The indices, checked against the axis and made non-negative.
std::vector<int64_t> checked_indices(const char* op, const std::vector<int64_t>& indices, int64_t n, const Shape& s,
                                     size_t axis) {
  std::vector<int64_t> out;
  out.reserve(indices.size());
  for (int64_t i : indices) {
    if (i < -n || i >= n)
      throw Error(std::string(op) + ": index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) +
                  " of size " + std::to_string(n) + " (shape " + s.str() + ")");
    out.push_back(i < 0 ? i + n : i);
  }
  return out;
}
}  // namespace

struct IndexArgs {
  int64_t axis;
  std::vector<int64_t> indices;
};
// The arguments of the backward ops of index_select and gather: the forward's, and the size of the
// axis indexed.
struct IndexBackwardArgs {
  IndexArgs index;
  int64_t n;
};

// ---- index_select_backward: index_select's gradient, g's elements added back at their indices
// along an axis of size n. Linear in g, so its own backward is the index_select again ----
static const Op<IndexBackwardArgs> kIndexSelectBackward(
    {.name = "index_select_backward",
     .forward =
         [](Inputs in, IndexBackwardArgs& a) {
           const Tensor& g = in[0];
           const size_t ax = normalize_axis("index_select_backward", a.index.axis, g.shape());
           a.index.axis = static_cast<int64_t>(ax);
           if (g.shape()[ax] != static_cast<int64_t>(a.index.indices.size()))
             throw Error("index_select_backward: a gradient of shape " + g.shape().str() + " has " +
                         std::to_string(g.shape()[ax]) + " elements along axis " + std::to_string(ax) +
                         ", but there are " + std::to_string(a.index.indices.size()) + " indices");
           const Shape out_shape = with_size(g.shape(), ax, a.n);
           a.index.indices = checked_indices("index_select_backward", a.index.indices, a.n, out_shape, ax);
           Tensor gx = zeros(out_shape, g.dtype());
           along_axis(gx, g, ax, [&](int64_t j) { return a.index.indices[static_cast<size_t>(j)]; }, true);
           return gx;
         },
     .backward =
         [](BackwardContext& c, const IndexBackwardArgs& a) {
           c.accumulate(0, index_select(c.grad(), a.index.axis, a.index.indices));
         },
     // index_select's samples, seen from the output.
     .samples = {{.label = "axis=1, {2, 0, 2, -1} of 4",
                  .args = {{1, {2, 0, 2, -1}}, 4},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix, a repeated index"}};
                  }},
                 {.label = "axis=1, {2, 0, 2, -1} of 3",
                  .args = {{1, {2, 0, 2, -1}}, 3},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 4, 2}, d, g)}, "3-D"}};
                  }}}});

static const Op<IndexArgs> kIndexSelect(
    {.name = "index_select",
     .forward =
         [](Inputs in, IndexArgs& a) {
           const Tensor& x = in[0];
           const size_t ax = normalize_axis("index_select", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           a.indices = checked_indices("index_select", a.indices, x.shape()[ax], x.shape(), ax);
           Tensor out = make_tensor(with_size(x.shape(), ax, static_cast<int64_t>(a.indices.size())), x.dtype(), "index_select");
           along_axis(x, out, ax, [&](int64_t j) { return a.indices[static_cast<size_t>(j)]; }, false);
           return out;
         },
     .backward =
         [](BackwardContext& c, const IndexArgs& a) {
           c.accumulate(0, kIndexSelectBackward({c.grad()}, {a, c.input(0).shape()[static_cast<size_t>(a.axis)]}));
         },
     .samples = {{.label = "axis=1, {2, 0, 2, -1}", .args = {1, {2, 0, 2, -1}}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "matrix, a repeated index"},
                                                 {{samples::normal({2, 3, 2}, d, g)}, "3-D"}};
                  }}}});
Tensor index_select(const Tensor& x, int64_t axis, const std::vector<int64_t>& indices) {
  return kIndexSelect({x}, {axis, indices});
}
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& indices) {
  return kIndexSelect({x}, {axis, indices_of("index_select", indices)});
}

// ---- gather_backward: gather's gradient, a [lanes, n] (axis 1) or [n, lanes] (axis 0) matrix
// of zeros with g's elements added at the indices. Linear in g, so its own backward is the gather
// again ----
static const Op<IndexBackwardArgs> kGatherBackward(
    {.name = "gather_backward",
     .forward =
         [](Inputs in, IndexBackwardArgs& a) {
           const Tensor& g = in[0];
           const int64_t lanes_count = static_cast<int64_t>(a.index.indices.size());
           if (g.dim() != 1 || g.shape()[0] != lanes_count)
             throw Error("gather_backward: expected a gradient of shape [" + std::to_string(lanes_count) +
                         "] (one element per index), got shape " + g.shape().str());
           if (a.index.axis < -2 || a.index.axis > 1)
             throw Error("gather_backward: axis " + std::to_string(a.index.axis) +
                         " is out of range for a 2-D result (from -2 to 1), for a gradient of shape " +
                         g.shape().str());
           const int64_t ax = a.index.axis < 0 ? a.index.axis + 2 : a.index.axis;
           a.index.axis = ax;
           const Shape out_shape = ax == 1 ? Shape{lanes_count, a.n} : Shape{a.n, lanes_count};
           const size_t axis = static_cast<size_t>(ax);
           a.index.indices = checked_indices("gather_backward", a.index.indices, a.n, out_shape, axis);
           Tensor gx = zeros(out_shape, g.dtype());
           dispatch(g.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(g);
             T* q = ptr<T>(gx);
             const int64_t cols = out_shape[1];
             for (int64_t l = 0; l < lanes_count; ++l) {
               const int64_t i = a.index.indices[static_cast<size_t>(l)];
               q[ax == 1 ? l * cols + i : i * cols + l] += p[l];
             }
           });
           return gx;
         },
     .backward =
         [](BackwardContext& c, const IndexBackwardArgs& a) {
           c.accumulate(0, gather(c.grad(), a.index.axis, a.index.indices));
         },
     // gather's samples, seen from the output.
     .samples = {{.label = "axis=1 of 4", .args = {{1, {2, 0, 3}}, 4}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3}, d, g)}, "one index per row"}};
                  }},
                 {.label = "axis=0 of 3", .args = {{0, {1, -1, 0, 2}}, 3}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({4}, d, g)}, "one index per column"}};
                  }}}});

// ---- gather: for a 2-D x, one index per lane of the axis: axis 1 gives x[i, idx[i]] (the op a
// loss picks each row's class with), axis 0 gives x[idx[j], j] ----
static const Op<IndexArgs> kGather(
    {.name = "gather",
     .forward =
         [](Inputs in, IndexArgs& a) {
           const Tensor& x = in[0];
           if (x.dim() != 2) throw Error("gather: expected a 2-D tensor, got shape " + x.shape().str());
           const size_t ax = normalize_axis("gather", a.axis, x.shape());
           a.axis = static_cast<int64_t>(ax);
           const int64_t lanes_count = x.shape()[1 - ax];
           if (static_cast<int64_t>(a.indices.size()) != lanes_count)
             throw Error("gather: expected " + std::to_string(lanes_count) + " indices (one per " +
                         (ax == 1 ? "row" : "column") + " of " + x.shape().str() + "), got " +
                         std::to_string(a.indices.size()));
           a.indices = checked_indices("gather", a.indices, x.shape()[ax], x.shape(), ax);
           Tensor out = make_tensor(Shape{lanes_count}, x.dtype(), "gather");
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             T* q = ptr<T>(out);
             const int64_t cols = x.shape()[1];
             for (int64_t l = 0; l < lanes_count; ++l) {
               const int64_t i = a.indices[static_cast<size_t>(l)];
               q[l] = ax == 1 ? p[l * cols + i] : p[i * cols + l];
             }
           });
           return out;
         },
     .backward =
         [](BackwardContext& c, const IndexArgs& a) {
           c.accumulate(0, kGatherBackward({c.grad()}, {a, c.input(0).shape()[static_cast<size_t>(a.axis)]}));
         },
     .samples = {{.label = "axis=1", .args = {1, {2, 0, 3}}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "one index per row"}};
                  }},
                 {.label = "axis=0", .args = {0, {1, -1, 0, 2}}, .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({3, 4}, d, g)}, "one index per column"}};
                  }}}});
Tensor gather(const Tensor& x, int64_t axis, const std::vector<int64_t>& indices) { return kGather({x}, {axis, indices}); }
Tensor gather(const Tensor& x, int64_t axis, const Tensor& indices) {
  return kGather({x}, {axis, indices_of("gather", indices)});
}

// The values of a rank-1 int64 tensor of indices, for the ops that take them as arguments.
std::vector<int64_t> detail::indices_of(const char* op, const Tensor& indices) {
  defined(op, indices);
  if (indices.dtype() != Dtype::i64 || indices.dim() != 1)
    throw Error(std::string(op) + ": expected indices as a rank-1 int64 tensor, got " + indices.shape().str() + " " +
                std::string(dtype_name(indices.dtype())));
  return indices.to_vector<int64_t>();
}

}  // namespace tapegrad
