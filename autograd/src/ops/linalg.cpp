// Matrix products (2-D and batched), transpose and reshape.
#include "ops/gemm.h"
#include "ops/loops.h"

namespace tapegrad {

using namespace detail;

namespace {
// The [rows, cols] a matmul operand is treated as: a vector on the left is a row, on the right a column.
struct Mat2 {
  int64_t rows, cols;
};
// (Read from the TensorImpl: the operands are an op's inputs, checked defined, and a matmul's
// forward and backward read them several times.)
Mat2 as_left(const Tensor& a) {
  const Shape& s = impl_of(a)->shape;
  return s.size() == 1 ? Mat2{1, s[0]} : Mat2{s[0], s[1]};
}
Mat2 as_right(const Tensor& b) {
  const Shape& s = impl_of(b)->shape;
  return s.size() == 1 ? Mat2{s[0], 1} : Mat2{s[0], s[1]};
}
}  // namespace

// ---- gemm: C = op(A) op(B), op a transpose or not, for matmul's gradients ----
// The product with BLAS's transpose flags, so that matmul's gradients dY B^T and A^T dY are one
// GEMM each (no transposed copy), and, being an op, are recorded under create_graph and
// differentiated again. A and B are read as row-major matrices whatever their rank (a matmul
// vector is one row or one column); `vector` makes C 1-D, as the gradient of a 1-D operand.
// The kernel form of a product: gemm on the buffers, m, n, k in size[0..2], the transposes in flag.
// A product gemm() runs on one thread through libxsmm has its kernel dispatched at planning.
template <class T, class>
struct GemmLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    if (k.fn)
      gemm_with<T>(k.fn, k.flag[0], k.flag[1], k.size[0], k.size[1], k.size[2], static_cast<const T*>(in[0]),
                   static_cast<const T*>(in[1]), static_cast<T*>(out));
    else
      gemm<T>(k.flag[0], k.flag[1], k.size[0], k.size[1], k.size[2], T(1), static_cast<const T*>(in[0]),
              static_cast<const T*>(in[1]), T(0), static_cast<T*>(out));
  }
};
// An autocast product: its oneDNN primitive created at planning (null: the float32 path).
struct Bf16GemmLoop {
  static void run(const Kernel& k, const void* const* in, void* out) {
    gemm_bf16_with(k.fn, k.flag[0], k.flag[1], k.size[0], k.size[1], k.size[2], static_cast<const float*>(in[0]),
                   static_cast<const float*>(in[1]), static_cast<float*>(out));
  }
};
Kernel gemm_plan(int64_t m, int64_t n, int64_t k, bool ta, bool tb, Dtype dtype, bool bf16) {
  Kernel kernel;
  kernel.size[0] = m;
  kernel.size[1] = n;
  kernel.size[2] = k;
  kernel.flag[0] = ta;
  kernel.flag[1] = tb;
  if (bf16 && dtype == Dtype::f32) {
    kernel.run = &Bf16GemmLoop::run;
    kernel.fn = gemm_bf16_kernel(ta, tb, m, n, k);
    return kernel;
  }
  kernel.run = for_dtype<GemmLoop, void>(dtype);
  if (dtype == Dtype::f32) kernel.fn = gemm_kernel<float>(ta, tb, m, n, k);
  if (dtype == Dtype::f64) kernel.fn = gemm_kernel<double>(ta, tb, m, n, k);
  return kernel;
}

struct GemmArgs {
  int64_t m, n, k;  // op(A) is [m, k], op(B) is [k, n], C is [m, n]
  bool ta, tb;
  bool vector;  // C has shape [m * n] rather than [m, n]
  bool bf16 = false;  // bfloat16 operands (recorded under autocast)
};
Tensor gemm_op(Inputs in, const GemmArgs& a);
[[noreturn]] void throw_gemm_inputs(Inputs in, const GemmArgs& a) {
  same_dtype("gemm", in[0], in[1]);
  throw Error(std::string("gemm: expected ") + (a.ta ? "A^T" : "A") + " of " + std::to_string(a.m) + "x" +
              std::to_string(a.k) + " and " + (a.tb ? "B^T" : "B") + " of " + std::to_string(a.k) + "x" +
              std::to_string(a.n) + " elements, got shapes " + in[0].shape().str() + " and " + in[1].shape().str());
}
static const Op<GemmArgs> kGemm(
    {.name = "gemm",
     .forward =
         [](Inputs in, GemmArgs& a) {
           // Fields read inline: this runs for every matmul gradient of a plain backward.
           const TensorImpl *x = impl_of(in[0]), *y = impl_of(in[1]);
           if (x->dtype != y->dtype || x->shape.numel() != a.m * a.k || y->shape.numel() != a.k * a.n) [[unlikely]]
             throw_gemm_inputs(in, a);
           Tensor out = make_tensor(a.vector ? Shape{a.m * a.n} : Shape{a.m, a.n}, x->dtype);
           dispatch(x->dtype, [&](auto tag) {
             using T = decltype(tag);
             product<T>(a.bf16, a.ta, a.tb, a.m, a.n, a.k, x->data<T>(), y->data<T>(), T(0), ptr<T>(out));
           });
           return out;
         },
     // For C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, each transposed back
     // where the operand was read transposed; the flags pick the stored layouts, so each is
     // again one gemm.
     .backward =
         [](BackwardContext& c, const GemmArgs& a) {
           const Tensor &x = c.input(0), &y = c.input(1), &g = c.grad();
           const bool vx = impl_of(x)->shape.size() == 1, vy = impl_of(y)->shape.size() == 1;
           if (c.needs_grad(0))
             c.accumulate(0, a.ta ? gemm_op({y, g}, {a.k, a.m, a.n, a.tb, true, vx, a.bf16})
                                  : gemm_op({g, y}, {a.m, a.k, a.n, false, !a.tb, vx, a.bf16}));
           if (c.needs_grad(1))
             c.accumulate(1, a.tb ? gemm_op({g, x}, {a.n, a.k, a.m, true, a.ta, vy, a.bf16})
                                  : gemm_op({x, g}, {a.k, a.n, a.m, !a.ta, false, vy, a.bf16}));
         },
     .samples =
         [] {
           // Each transpose combination at m, n, k = 2, 4, 3 (op(A) 2x3, op(B) 3x4), and a 1-D result.
           auto sample = [](const char* label, GemmArgs a, Shape sa, Shape sb) {
             return Sample<GemmArgs>{.label = label, .args = a, .inputs = [sa, sb](Dtype d, Generator& g) {
                                       return std::vector<OpSample>{{{samples::normal(sa, d, g), samples::normal(sb, d, g)}, ""}};
                                     }};
           };
           return std::vector<Sample<GemmArgs>>{sample("A B", {2, 4, 3, false, false, false}, {2, 3}, {3, 4}),
                                                sample("A B^T", {2, 4, 3, false, true, false}, {2, 3}, {4, 3}),
                                                sample("A^T B", {2, 4, 3, true, false, false}, {3, 2}, {3, 4}),
                                                sample("A^T B^T", {2, 4, 3, true, true, false}, {3, 2}, {4, 3}),
                                                sample("row A^T B, 1-D", {1, 4, 3, true, false, true}, {3}, {3, 4})};
         }(),
     .plan = [](Inputs, const GemmArgs& a, const Tensor& out) {
       return gemm_plan(a.m, a.n, a.k, a.ta, a.tb, impl_of(out)->dtype, a.bf16);
     },
     .autocast = record_autocast<GemmArgs>});
Tensor gemm_op(Inputs in, const GemmArgs& a) { return kGemm(in, a); }

// ---- matmul: for Y = A B, dA = dY B^T and dB = A^T dY ----
namespace {
// When B is transpose(W), recorded on this tape from a W unchanged since, the W that dY B^T
// reads as stored (dY W: one product without transposed operands), else undefined. Our transposes are
// copies, not strided views: without this, dY B^T reads B transposed, which costs a copy (or
// Eigen's path, for a B too large to copy) per product, as in a recurrent step's g W_hh. (A
// copy of the handle: the product records a node, which may move the tape's nodes.)
Tensor transposed_from(const Tensor& b);
}  // namespace

// Set at the call from the thread's autocast state, and kept by the node: the gradients and a
// compiled replay take the path the forward took, wherever they run.
struct ProductArgs {
  bool bf16 = false;  // bfloat16 operands
};
static const Op<ProductArgs> kMatmul(
    {.name = "matmul",
     .forward =
         [](Inputs in, ProductArgs& p) {
           const Tensor& a = in[0];
           const Tensor& b = in[1];
           const TensorImpl &ai = *impl_of(a), &bi = *impl_of(b);
           if (ai.dtype != bi.dtype) [[unlikely]] same_dtype("matmul", a, b);
           const size_t ra = ai.shape.size(), rb = bi.shape.size();
           if (ra < 1 || ra > 2 || rb < 1 || rb > 2 || (ra == 1 && rb == 1))
             throw Error("matmul: expected 2-D x 2-D, 1-D x 2-D or 2-D x 1-D, got " + a.shape().str() + " x " + b.shape().str());
           const Mat2 ma = as_left(a), mb = as_right(b);
           if (ma.cols != mb.rows)
             throw Error("matmul: inner dimensions differ: " + a.shape().str() + " x " + b.shape().str());
           Shape out_shape = ra == 1 ? Shape{mb.cols} : (rb == 1 ? Shape{ma.rows} : Shape{ma.rows, mb.cols});
           Tensor out = make_tensor(out_shape, ai.dtype);
           dispatch(ai.dtype, [&](auto tag) {
             using T = decltype(tag);
             product<T>(p.bf16, false, false, ma.rows, mb.cols, ma.cols, ptr<T>(a), ptr<T>(b), T(0), ptr<T>(out));
           });
           return out;
         },
     .backward =
         [](BackwardContext& c, const ProductArgs& p) {
           const Tensor &a = c.input(0), &b = c.input(1);
           const Mat2 ma = as_left(a), mb = as_right(b);
           const bool va = impl_of(a)->shape.size() == 1, vb = impl_of(b)->shape.size() == 1;
           if (c.needs_grad(0)) {
             // Not when the pass records: the recorded gradient must still depend on B itself,
             // for a gradient of it with respect to B.
             const Tensor w = vb || impl_of(b)->node < 0 || c.recording() ? Tensor() : transposed_from(b);
             c.accumulate(0, w.defined() ? kGemm({c.grad(), w}, {ma.rows, ma.cols, mb.cols, false, false, va, p.bf16})
                               : kGemm({c.grad(), b}, {ma.rows, ma.cols, mb.cols, false, true, va, p.bf16}));
           }
           if (c.needs_grad(1))
             c.accumulate(1, kGemm({a, c.grad()}, {mb.rows, mb.cols, ma.rows, true, false, vb, p.bf16}));
         },
     .samples = {{.inputs = [](Dtype d, Generator& g) {
                    auto n = [&](const Shape& s) { return samples::normal(s, d, g); };
                    return std::vector<OpSample>{{{n({2, 3}), n({3, 4})}, "2-D x 2-D"},
                                                 {{n({3}), n({3, 4})}, "1-D x 2-D"},
                                                 {{n({2, 3}), n({3})}, "2-D x 1-D"},
                                                 {{n({1, 5}), n({5, 1})}, "row x column"}};
                  }}},
     .plan = [](Inputs in, const ProductArgs& p, const Tensor& out) {
       const Mat2 ma = as_left(in[0]), mb = as_right(in[1]);
       return gemm_plan(ma.rows, mb.cols, ma.cols, false, false, impl_of(out)->dtype, p.bf16);
     },
     .autocast = record_autocast<ProductArgs>});

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
// `ta`, `tb`: each batch element of a (of b) is read transposed (rank >= 2 only); `op` names the
// op in errors.
Batched batched(const Tensor& a, const Tensor& b, bool ta = false, bool tb = false, const char* op = "matmul") {
  same_dtype(op, a, b);
  if (a.dim() < 1 || b.dim() < 1)
    throw Error(std::string(op) + ": expected tensors of rank >= 1, got " + a.shape().str() + " x " + b.shape().str());
  const std::vector<int64_t> sa = a.shape().vec(), sb = b.shape().vec();
  Batched g;
  const size_t ra = sa.size(), rb = sb.size();
  g.m = a.dim() == 1 ? 1 : sa[ta ? ra - 1 : ra - 2];
  g.k = a.dim() == 1 ? sa[0] : sa[ta ? ra - 2 : ra - 1];
  const int64_t kb = b.dim() == 1 ? sb[0] : sb[tb ? rb - 1 : rb - 2];
  g.n = b.dim() == 1 ? 1 : sb[tb ? rb - 2 : rb - 1];
  if (g.k != kb) throw Error(std::string(op) + ": inner dimensions differ: " + a.shape().str() + " x " + b.shape().str());
  const Shape ba(std::vector<int64_t>(sa.begin(), sa.end() - std::min<size_t>(sa.size(), 2)));
  const Shape bb(std::vector<int64_t>(sb.begin(), sb.end() - std::min<size_t>(sb.size(), 2)));
  g.batch = broadcast_shapes(op, ba, bb);
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

// ---- batched_gemm: C = op(A) op(B) per batch element, the batch dimensions broadcast, for the
// batched matmul's gradients (rank >= 2 operands; a matmul vector is reshaped to one row or column)
struct Transposes {
  bool ta, tb;
  bool bf16 = false;  // bfloat16 operands (recorded under autocast)
};
Tensor batched_gemm_op(Inputs in, const Transposes& t);
static const Op<Transposes> kBatchedGemm(
    {.name = "batched_gemm",
     .forward =
         [](Inputs in, Transposes& t) {
           if (in[0].dim() < 2 || in[1].dim() < 2)
             throw Error("batched_gemm: expected operands of rank >= 2, got " + in[0].shape().str() + " and " +
                         in[1].shape().str());
           const Batched g = batched(in[0], in[1], t.ta, t.tb, "batched_gemm");
           Tensor out = make_tensor(g.out, in[0].dtype(), "batched_gemm");
           dispatch(in[0].dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T *a = ptr<T>(in[0]), *b = ptr<T>(in[1]);
             T* c = ptr<T>(out);
             for (size_t e = 0; e < g.at_a.size(); ++e)
               product<T>(t.bf16, t.ta, t.tb, g.m, g.n, g.k, a + g.at_a[e], b + g.at_b[e], T(0),
                          c + static_cast<int64_t>(e) * g.m * g.n);
           });
           return out;
         },
     // As gemm's, per batch element; accumulate() sums over the batch dimensions an operand was
     // broadcast along.
     .backward =
         [](BackwardContext& c, const Transposes& t) {
           const Tensor &x = c.input(0), &y = c.input(1), &g = c.grad();
           if (c.needs_grad(0))
             c.accumulate(0, t.ta ? batched_gemm_op({y, g}, {t.tb, true, t.bf16})
                                  : batched_gemm_op({g, y}, {false, !t.tb, t.bf16}));
           if (c.needs_grad(1))
             c.accumulate(1, t.tb ? batched_gemm_op({g, x}, {true, t.ta, t.bf16})
                                  : batched_gemm_op({x, g}, {!t.ta, false, t.bf16}));
         },
     .samples =
         [] {
           // op(A) is batch [2, 1] + [2, 3], op(B) batch [3] + [3, 4], in each transpose combination.
           auto sample = [](const char* label, Transposes t, Shape sa, Shape sb) {
             return Sample<Transposes>{.label = label, .args = t, .inputs = [sa, sb](Dtype d, Generator& g) {
                                         return std::vector<OpSample>{
                                             {{samples::normal(sa, d, g), samples::normal(sb, d, g)}, "batch [2,1] with [3]"}};
                                       }};
           };
           return std::vector<Sample<Transposes>>{sample("A B", {false, false}, {2, 1, 2, 3}, {3, 3, 4}),
                                                  sample("A B^T", {false, true}, {2, 1, 2, 3}, {3, 4, 3}),
                                                  sample("A^T B", {true, false}, {2, 1, 3, 2}, {3, 3, 4}),
                                                  sample("A^T B^T", {true, true}, {2, 1, 3, 2}, {3, 4, 3})};
         }(),
     .autocast = record_autocast<Transposes>});
Tensor batched_gemm_op(Inputs in, const Transposes& t) { return kBatchedGemm(in, t); }

static const Op<ProductArgs> kBatchedMatmul(
    {.name = "matmul",
     .forward =
         [](Inputs in, ProductArgs& p) {
           const Batched g = batched(in[0], in[1]);
           Tensor out = make_tensor(g.out, in[0].dtype(), "matmul");
           dispatch(in[0].dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T *a = ptr<T>(in[0]), *b = ptr<T>(in[1]);
             T* c = ptr<T>(out);
             for (size_t e = 0; e < g.at_a.size(); ++e)
               product<T>(p.bf16, false, false, g.m, g.n, g.k, a + g.at_a[e], b + g.at_b[e], T(0),
                          c + static_cast<int64_t>(e) * g.m * g.n);
           });
           return out;
         },
     // batched_gemm's products at the full batch shape (accumulate() sums each over the batch
     // dimensions its operand was broadcast along), a 1-D a seen as one row and a 1-D b as one
     // column: views, so the common case (no 1-D operand) reshapes nothing.
     .backward =
         [](BackwardContext& c, const ProductArgs& p) {
           const Tensor &a = c.input(0), &b = c.input(1);
           const int64_t k = a.shape()[a.dim() - 1];
           Shape batch;
           int64_t m = 1, n = 1;
           {
             const Batched g = batched(a, b);
             batch = g.batch;
             m = g.m;
             n = g.n;
           }
           const Tensor up = reshape(c.grad(), with_batch(batch, m, n, false).vec());
           if (c.needs_grad(0)) {
             const Tensor b2 = b.dim() == 1 ? reshape(b, {k, 1}) : b;
             Tensor ga = batched_gemm_op({up, b2}, {false, true, p.bf16});
             c.accumulate(0, a.dim() == 1 ? reshape(ga, with_batch(batch, 1, k, true).vec()) : std::move(ga));
           }
           if (c.needs_grad(1)) {
             const Tensor a2 = a.dim() == 1 ? reshape(a, {1, k}) : a;
             Tensor gb = batched_gemm_op({a2, up}, {true, false, p.bf16});
             // A 1-D b is one column: batch + [k, 1] holds the same elements as batch + [k].
             c.accumulate(1, b.dim() == 1 ? reshape(gb, with_batch(batch, 1, k, true).vec()) : std::move(gb));
           }
         },
     .samples = {{.label = "batched",
                  .inputs = [](Dtype d, Generator& g) {
                    auto n = [&](const Shape& s) { return samples::normal(s, d, g); };
                    return std::vector<OpSample>{{{n({2, 2, 3}), n({3, 4})}, "3-D x 2-D"},
                                                 {{n({2, 3}), n({2, 3, 4})}, "2-D x 3-D"},
                                                 {{n({2, 1, 2, 3}), n({3, 3, 2})}, "batch [2,1] with [3]"},
                                                 {{n({2, 2, 3}), n({3})}, "3-D x 1-D"},
                                                 {{n({3}), n({2, 3, 4})}, "1-D x 3-D"}};
                  }}},
     .autocast = record_autocast<ProductArgs>});

Tensor matmul(const Tensor& a, const Tensor& b) {
  const TensorImpl *ia = impl_of(a), *ib = impl_of(b);  // inline reads: this test runs for every product
  if ((ia && ia->shape.size() > 2) || (ib && ib->shape.size() > 2)) return kBatchedMatmul({a, b}, {autocast_bf16});
  return kMatmul({a, b}, {autocast_bf16});
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

namespace {
Tensor transposed_from(const Tensor& b) {
  const TensorImpl* t = impl_of(b);
  if (t->node < 0 || !t->tape) return {};
  const Node& n = impl_of(*t->tape).node(static_cast<size_t>(t->node));
  if (n.op != &kTranspose || n.finished || n.output != t || n.inputs.size() != 1) return {};
  const Tensor& w = n.inputs[0];
  return impl_of(w)->storage->version == n.inputs.version(0) ? w : Tensor();
}
}  // namespace

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
                  }}},
     .int64_inputs = 1,  // a view of indices: [N, T] token ids flattened for a lookup
     .bf16_inputs = 1});  // a view of bfloat16 storage

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
