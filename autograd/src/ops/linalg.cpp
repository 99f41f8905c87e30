// Matrix products (2-D and batched), transpose and reshape.
#include "gemm.h"
#include "kernels.h"

namespace tapegrad {

using namespace detail;

namespace {
// The [rows, cols] a matmul operand is treated as: a vector on the left is a row, on the right a column.
struct Mat2 {
  int64_t rows, cols;
};
Mat2 as_left(const Tensor& a) { return a.dim() == 1 ? Mat2{1, a.shape()[0]} : Mat2{a.shape()[0], a.shape()[1]}; }
Mat2 as_right(const Tensor& b) { return b.dim() == 1 ? Mat2{b.shape()[0], 1} : Mat2{b.shape()[0], b.shape()[1]}; }
}  // namespace

// ---- matmul: for Y = A B, dA = dY B^T and dB = A^T dY ----
static const Op<void> kMatmul(
    {.name = "matmul",
     .forward =
         [](Inputs in) {
           const Tensor& a = in[0];
           const Tensor& b = in[1];
           same_dtype("matmul", a, b);
           if (a.dim() < 1 || a.dim() > 2 || b.dim() < 1 || b.dim() > 2 || (a.dim() == 1 && b.dim() == 1))
             throw Error("matmul: expected 2-D x 2-D, 1-D x 2-D or 2-D x 1-D, got " + a.shape().str() + " x " + b.shape().str());
           const Mat2 ma = as_left(a), mb = as_right(b);
           if (ma.cols != mb.rows)
             throw Error("matmul: inner dimensions differ: " + a.shape().str() + " x " + b.shape().str());
           Shape out_shape = a.dim() == 1 ? Shape{mb.cols} : (b.dim() == 1 ? Shape{ma.rows} : Shape{ma.rows, mb.cols});
           Tensor out = make_tensor(out_shape, a.dtype());
           dispatch(a.dtype(), [&](auto tag) {
             using T = decltype(tag);
             gemm<T>(false, false, ma.rows, mb.cols, ma.cols, T(1), ptr<T>(a), ptr<T>(b), T(0), ptr<T>(out));
           });
           return out;
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor& a = c.input(0);
           const Tensor& b = c.input(1);
           const Mat2 ma = as_left(a), mb = as_right(b);
           if (c.create_graph()) {
             // The same two products as the GEMMs below, as recorded matmuls (the gradient is
             // bilinear in the upstream and the other operand), on the operands seen as matrices;
             // accumulate() gives a 1-D operand its own shape back.
             const Tensor g = reshape(c.grad(), {ma.rows, mb.cols});
             if (c.needs_grad(0)) c.accumulate(0, matmul(g, transpose(reshape(b, {mb.rows, mb.cols}))));
             if (c.needs_grad(1)) c.accumulate(1, matmul(transpose(reshape(a, {ma.rows, ma.cols})), g));
             return;
           }
           dispatch(a.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* g = ptr<T>(c.grad());
             if (c.needs_grad(0)) {
               Tensor ga = make_tensor(a.shape(), a.dtype());
               gemm<T>(false, true, ma.rows, ma.cols, mb.cols, T(1), g, ptr<T>(b), T(0), ptr<T>(ga));
               c.accumulate(0, std::move(ga));
             }
             if (c.needs_grad(1)) {
               Tensor gb = make_tensor(b.shape(), b.dtype());
               gemm<T>(true, false, mb.rows, mb.cols, ma.rows, T(1), ptr<T>(a), g, T(0), ptr<T>(gb));
               c.accumulate(1, std::move(gb));
             }
           });
         },
     .samples = {{.inputs = [](Dtype d, Generator& g) {
                    auto n = [&](const Shape& s) { return samples::normal(s, d, g); };
                    return std::vector<OpSample>{{{n({2, 3}), n({3, 4})}, "2-D x 2-D"},
                                                 {{n({3}), n({3, 4})}, "1-D x 2-D"},
                                                 {{n({2, 3}), n({3})}, "2-D x 1-D"},
                                                 {{n({1, 5}), n({5, 1})}, "row x column"}};
                  }}}});

// ---- batched matmul: rank >= 3 on either side, the leading (batch) dimensions broadcast as in
// torch.matmul; one GEMM per batch element, through the same tuned GEMM ----
namespace {
// The operands' geometry: each batch element of a is [m, k], of b [k, n]; a 1-D a is one row and
// a 1-D b one column, whose dimension the result drops.
struct Batched {
  Shape batch;                      // the broadcast batch dimensions
  int64_t m = 1, k = 1, n = 1;
  std::vector<int64_t> at_a, at_b;  // element offset of each batch element in a and in b
  Shape out;
};
Batched batched(const Tensor& a, const Tensor& b) {
  same_dtype("matmul", a, b);
  if (a.dim() < 1 || b.dim() < 1)
    throw Error("matmul: expected tensors of rank >= 1, got " + a.shape().str() + " x " + b.shape().str());
  const std::vector<int64_t> sa = a.shape().vec(), sb = b.shape().vec();
  Batched g;
  g.m = a.dim() == 1 ? 1 : sa[sa.size() - 2];
  g.k = sa.back();
  const int64_t kb = b.dim() == 1 ? sb[0] : sb[sb.size() - 2];
  g.n = b.dim() == 1 ? 1 : sb.back();
  if (g.k != kb) throw Error("matmul: inner dimensions differ: " + a.shape().str() + " x " + b.shape().str());
  const Shape ba(std::vector<int64_t>(sa.begin(), sa.end() - std::min<size_t>(sa.size(), 2)));
  const Shape bb(std::vector<int64_t>(sb.begin(), sb.end() - std::min<size_t>(sb.size(), 2)));
  g.batch = broadcast_shapes("matmul", ba, bb);
  std::vector<int64_t> out = g.batch.vec();
  if (a.dim() > 1) out.push_back(g.m);
  if (b.dim() > 1) out.push_back(g.n);
  g.out = Shape(out);
  // Offsets: walk the broadcast batch index, with stride 0 where an operand has size 1 or lacks
  // the dimension.
  const size_t rank = g.batch.size();
  const int64_t count = g.batch.numel();
  std::vector<int64_t> idx(rank, 0);
  auto offset = [&](const Shape& own, int64_t matrix) {
    int64_t off = 0, stride = matrix;
    for (size_t d = rank; d-- > 0;) {
      const size_t shift = rank - own.size();
      const int64_t size = d >= shift ? own[d - shift] : 1;
      if (size != 1) off += idx[d] * stride;
      stride *= size;
    }
    return off;
  };
  for (int64_t e = 0; e < count; ++e) {
    g.at_a.push_back(offset(ba, g.m * g.k));
    g.at_b.push_back(offset(bb, g.k * g.n));
    for (size_t d = rank; d-- > 0;)
      if (++idx[d] < g.batch[d]) break;
      else idx[d] = 0;
  }
  return g;
}
// batch + [rows, cols], or batch + [cols] where a 1-D operand has one row.
Shape with_batch(const Shape& batch, int64_t rows, int64_t cols, bool vector) {
  std::vector<int64_t> s = batch.vec();
  if (!vector) s.push_back(rows);
  s.push_back(cols);
  return Shape(s);
}
}  // namespace

static const Op<void> kBatchedMatmul(
    {.name = "matmul",
     .forward =
         [](Inputs in) {
           const Batched g = batched(in[0], in[1]);
           Tensor out = make_tensor(g.out, in[0].dtype(), "matmul");
           dispatch(in[0].dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T *a = ptr<T>(in[0]), *b = ptr<T>(in[1]);
             T* c = ptr<T>(out);
             for (size_t e = 0; e < g.at_a.size(); ++e)
               gemm<T>(false, false, g.m, g.n, g.k, T(1), a + g.at_a[e], b + g.at_b[e], T(0),
                       c + static_cast<int64_t>(e) * g.m * g.n);
           });
           return out;
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor &a = c.input(0), &b = c.input(1);
           const Batched g = batched(a, b);
           if (c.create_graph()) {
             // The per-batch GEMMs below as recorded matmuls (bilinear, so differentiable again),
             // a 1-D a seen as one row and a 1-D b as one column.
             const Tensor up = reshape(c.grad(), with_batch(g.batch, g.m, g.n, false).vec());
             const Tensor a2 = a.dim() == 1 ? reshape(a, {1, g.k}) : a, b2 = b.dim() == 1 ? reshape(b, {g.k, 1}) : b;
             const Shape ga = with_batch(g.batch, g.m, g.k, a.dim() == 1);
             const Shape gb = b.dim() == 1 ? with_batch(g.batch, 1, g.k, true) : with_batch(g.batch, g.k, g.n, false);
             if (c.needs_grad(0)) c.accumulate(0, reshape(matmul(up, transpose(b2, -1, -2)), ga.vec()));
             if (c.needs_grad(1)) c.accumulate(1, reshape(matmul(transpose(a2, -1, -2), up), gb.vec()));
             return;
           }
           // Each gradient first at the full batch shape; accumulate() sums it over the batch
           // dimensions the operand was broadcast along.
           dispatch(a.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* up = ptr<T>(c.grad());
             const int64_t count = static_cast<int64_t>(g.at_a.size());
             if (c.needs_grad(0)) {
               Tensor ga = make_tensor(with_batch(g.batch, g.m, g.k, a.dim() == 1), a.dtype(), "matmul");
               for (int64_t e = 0; e < count; ++e)
                 gemm<T>(false, true, g.m, g.k, g.n, T(1), up + e * g.m * g.n, ptr<T>(b) + g.at_b[static_cast<size_t>(e)],
                         T(0), ptr<T>(ga) + e * g.m * g.k);
               c.accumulate(0, std::move(ga));
             }
             if (c.needs_grad(1)) {
               Tensor gb = make_tensor(with_batch(g.batch, g.k, g.n, false), b.dtype(), "matmul");
               for (int64_t e = 0; e < count; ++e)
                 gemm<T>(true, false, g.k, g.n, g.m, T(1), ptr<T>(a) + g.at_a[static_cast<size_t>(e)], up + e * g.m * g.n,
                         T(0), ptr<T>(gb) + e * g.k * g.n);
               // A 1-D b is one column: batch + [k, 1] holds the same elements as batch + [k].
               c.accumulate(1, b.dim() == 1 ? reshape(gb, with_batch(g.batch, 1, g.k, true).vec()) : std::move(gb));
             }
           });
         },
     .samples = {{.label = "batched",
                  .inputs = [](Dtype d, Generator& g) {
                    auto n = [&](const Shape& s) { return samples::normal(s, d, g); };
                    return std::vector<OpSample>{{{n({2, 2, 3}), n({3, 4})}, "3-D x 2-D"},
                                                 {{n({2, 3}), n({2, 3, 4})}, "2-D x 3-D"},
                                                 {{n({2, 1, 2, 3}), n({3, 3, 2})}, "batch [2,1] with [3]"},
                                                 {{n({2, 2, 3}), n({3})}, "3-D x 1-D"},
                                                 {{n({3}), n({2, 3, 4})}, "1-D x 3-D"}};
                  }}}});

Tensor matmul(const Tensor& a, const Tensor& b) {
  const TensorImpl *ia = impl_of(a), *ib = impl_of(b);  // inline reads: this test runs for every product
  if ((ia && ia->shape.size() > 2) || (ib && ib->shape.size() > 2)) return kBatchedMatmul({a, b});
  return kMatmul({a, b});
}

// ---- transpose (2-D) ----
static const Op<void> kTranspose(
    {.name = "transpose",
     .forward =
         [](Inputs in) {
           const Tensor& x = in[0];
           if (x.dim() != 2) throw Error("transpose: expected a 2-D tensor, got shape " + x.shape().str());
           const int64_t r = x.shape()[0], cols = x.shape()[1];
           Tensor out = make_tensor(Shape{cols, r}, x.dtype());
           dispatch(x.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* p = ptr<T>(x);
             T* q = ptr<T>(out);
             for (int64_t i = 0; i < r; ++i)
               for (int64_t j = 0; j < cols; ++j) q[j * r + i] = p[i * cols + j];
           });
           return out;
         },
     .backward = [](BackwardContext& c) { c.accumulate(0, transpose(c.grad())); },
     .samples = {{.inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 3}, d, g)}, "2x3"}};
                  }}}});
Tensor transpose(const Tensor& x) { return kTranspose({x}); }

// ---- reshape: shares storage; the gradient is reshaped back ----
// The target shape, with any -1 resolved.
struct ToShape {
  Shape shape;
};
static const Op<ToShape> kReshape(
    {.name = "reshape",
     .forward =
         [](Inputs in, ToShape& a) {
           if (a.shape.numel() != in[0].numel())
             throw Error("reshape: cannot reshape " + in[0].shape().str() + " into " + a.shape.str());
           return make_view(in[0], a.shape);
         },
     .backward = [](BackwardContext& c, const ToShape&) { c.accumulate(0, reshape(c.grad(), c.input(0).shape().vec())); },
     .samples = {{.label = "[2,3] to [3,2]",
                  .args = {Shape{3, 2}},
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::normal({2, 3}, d, g)}, "2x3"}};
                  }}}});

Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape) {
  defined("reshape", x);
  std::vector<int64_t> dims = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (infer >= 0) throw Error("reshape: only one dimension can be -1, got " + Shape(shape).str());
      infer = static_cast<int64_t>(i);
    } else if (dims[i] < 0) {
      throw Error("reshape: negative dimension in " + Shape(shape).str());
    } else if (__builtin_mul_overflow(known, dims[i], &known)) {
      throw Error("reshape: shape " + Shape(shape).str() + " has more elements than a 64-bit count holds");
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      throw Error("reshape: cannot reshape " + x.shape().str() + " into " + Shape(shape).str());
    dims[static_cast<size_t>(infer)] = x.numel() / known;
  }
  Shape target(dims);
  if (target.numel() != x.numel())
    throw Error("reshape: cannot reshape " + x.shape().str() + " (" + std::to_string(x.numel()) + " elements) into " +
                target.str() + " (" + std::to_string(target.numel()) + " elements)");
  if (target == x.shape()) return x;
  return kReshape({x}, {target});
}
}  // namespace tapegrad
