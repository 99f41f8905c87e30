// The LSTM step's gates and state update as one op, forward and backward (as cuDNN's and oneDNN's
// LSTMs fuse them): written with the ops, a step is a dozen calls over [N, H] pieces sliced out of
// the gates, with a gradient of the whole gates' size for every slice.
//   lstm_cell(gates, c) = [h', c'] with gates [N, 4H] in PyTorch's order i, f, g, o:
//     c' = sigmoid(f) * c + sigmoid(i) * tanh(g),   h' = sigmoid(o) * tanh(c')
//   lstm_cell_backward(grad [N, 2H], gates, c) = [d gates, d c] ([N, 5H])
// Its own backward (the second derivative) is written with the ops, so higher orders follow.
// GCC 12 warns inside Eigen's AVX-512 packet math (the pass-through operand of the masked min/max
// intrinsics its tanh and logistic inline here; "maybe" when optimising, "is used" under the
// sanitizers' flags), a false positive: off for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
#include <cmath>
#include <type_traits>
#include <vector>

#include "ops/loops.h"
#include "ops/op.h"
#include "tapegrad/autograd/ops.h"

namespace tapegrad {

using namespace detail;

namespace {

// The per-row arrays of one gate: H contiguous elements, vectorised by Eigen (its float tanh and
// logistic are its fast rational approximations; double's are the standard library's).
template <class T>
using Row = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using ConstRow = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// sigmoid and tanh of a gate's row: float through Eigen's vectorised approximations, double
// through the standard library (exact to the last bits that float64 checks compare).
template <class T, class E>
auto logistic_of(const E& x) {
  if constexpr (std::is_same_v<T, float>) {
    return x.logistic();
  } else {
    return x.unaryExpr([](T v) {
      if (v >= 0) return T(1) / (T(1) + std::exp(-v));
      const T e = std::exp(v);
      return e / (T(1) + e);
    });
  }
}
template <class T, class E>
auto tanh_of(const E& x) {
  if constexpr (std::is_same_v<T, float>) return x.tanh();
  else return x.unaryExpr([](T v) { return std::tanh(v); });
}

void check_cell(const char* op, const Tensor& gates, const Tensor& c) {
  defined(op, gates);
  defined(op, c);
  same_dtype(op, gates, c);
  if (gates.dim() != 2 || c.dim() != 2 || gates.size(0) != c.size(0) || gates.size(1) != 4 * c.size(1))
    throw Error(std::string(op) + ": expected gates [N, 4H] and c [N, H], got " + gates.shape().str() + " and " +
                c.shape().str());
}

// ---- lstm_cell_backward ----
// The second derivative, with the ops: the adjoints of lstm_cell_backward's formulas (below) for
// an upstream u = [u_i, u_f, u_g, u_o, u_c] ([N, 5H]).
void lstm_cell_second(BackwardContext& ctx) {
  const Tensor& g = ctx.input(0);
  const Tensor& gates = ctx.input(1);
  const Tensor& c = ctx.input(2);
  const int64_t H = c.size(1);
  const Tensor u = ctx.grad();
  auto part = [](const Tensor& t, int64_t k, int64_t H) { return slice(t, 1, k * H, (k + 1) * H); };
  const Tensor gh = part(g, 0, H), gc = part(g, 1, H);
  const Tensor ai = sigmoid(part(gates, 0, H)), af = sigmoid(part(gates, 1, H)), ag = tanh(part(gates, 2, H)),
               ao = sigmoid(part(gates, 3, H));
  const Tensor ui = part(u, 0, H), uf = part(u, 1, H), ug = part(u, 2, H), uo = part(u, 3, H), uc = part(u, 4, H);
  const Tensor c2 = af * c + ai * ag, t = tanh(c2);
  const Tensor dt = 1.0 - t * t, di = ai * (1.0 - ai), df = af * (1.0 - af), dg = 1.0 - ag * ag, dout = ao * (1.0 - ao);
  const Tensor G = gc + gh * ao * dt;
  // Adjoint of G, then of what it and the outputs read.
  const Tensor uG = ui * ag * di + uf * c * df + ug * ai * dg + uc * af;
  const Tensor u_t = uo * gh * dout - 2.0 * uG * gh * ao * t;
  const Tensor u_c2 = u_t * dt;
  const Tensor u_ao = uo * gh * t * (1.0 - 2.0 * ao) + uG * gh * dt;
  const Tensor u_ai = ui * G * ag * (1.0 - 2.0 * ai) + ug * G * dg + u_c2 * ag;
  const Tensor u_ag = ui * G * di - 2.0 * ug * G * ai * ag + u_c2 * ai;
  const Tensor u_af = uf * G * c * (1.0 - 2.0 * af) + uc * G + u_c2 * c;
  if (ctx.needs_grad(0)) ctx.accumulate(0, cat({uo * t * dout + uG * ao * dt, uG}, 1));
  if (ctx.needs_grad(1)) ctx.accumulate(1, cat({u_ai * di, u_af * df, u_ag * dg, u_ao * dout}, 1));
  if (ctx.needs_grad(2)) ctx.accumulate(2, uf * G * df + u_c2 * af);
}

SampleInputs cell_backward_inputs() {
  return [](Dtype d, Generator& gen) {
    return std::vector<OpSample>{{{samples::normal({3, 4}, d, gen), samples::normal({3, 8}, d, gen),
                                   samples::normal({3, 2}, d, gen)},
                                  "N=3 H=2"}};
  };
}

static const Op<void> kLstmCellBackward(
    {.name = "lstm_cell_backward",
     .forward =
         [](Inputs in) {
           const Tensor &g = in[0], &gates = in[1], &c = in[2];
           for (const Tensor* t : {&g, &gates, &c}) defined("lstm_cell_backward", *t);
           same_dtype("lstm_cell_backward", g, c);
           if (c.dim() != 2 || g.shape() != Shape{c.size(0), 2 * c.size(1)} || gates.dim() != 2 ||
               gates.shape() != Shape{c.size(0), 4 * c.size(1)})
             throw Error("lstm_cell_backward: expected grad [N, 2H], gates [N, 4H] and c [N, H], got " + g.shape().str() +
                         ", " + gates.shape().str() + " and " + c.shape().str());
           check_cell("lstm_cell_backward", gates, c);
           const int64_t N = c.size(0), H = c.size(1);
           Tensor out = make_tensor({N, 5 * H}, c.dtype(), "lstm_cell_backward");
           dispatch(c.dtype(), [&](auto tag) {
             using T = decltype(tag);
             // One row's activations, in a buffer made once per call (Eigen arrays would allocate per row).
             std::vector<T> scratch(static_cast<size_t>(6 * H));
             Row<T> ai(scratch.data(), H), af(scratch.data() + H, H), ag(scratch.data() + 2 * H, H),
                 ao(scratch.data() + 3 * H, H), t(scratch.data() + 4 * H, H), G(scratch.data() + 5 * H, H);
             for (int64_t n = 0; n < N; ++n) {
               const T* p = ptr<T>(gates) + n * 4 * H;
               const ConstRow<T> gh(ptr<T>(g) + n * 2 * H, H), gc(ptr<T>(g) + n * 2 * H + H, H);
               const ConstRow<T> cr(ptr<T>(c) + n * H, H);
               ai = logistic_of<T>(ConstRow<T>(p, H));
               af = logistic_of<T>(ConstRow<T>(p + H, H));
               ag = tanh_of<T>(ConstRow<T>(p + 2 * H, H));
               ao = logistic_of<T>(ConstRow<T>(p + 3 * H, H));
               t = af * cr + ai * ag;
               t = tanh_of<T>(t);
               G = gc + gh * ao * (T(1) - t * t);
               T* o = ptr<T>(out) + n * 5 * H;
               Row<T>(o, H) = G * ag * ai * (T(1) - ai);
               Row<T>(o + H, H) = G * cr * af * (T(1) - af);
               Row<T>(o + 2 * H, H) = G * ai * (T(1) - ag * ag);
               Row<T>(o + 3 * H, H) = gh * t * ao * (T(1) - ao);
               Row<T>(o + 4 * H, H) = G * af;
             }
           });
           return out;
         },
     .backward = lstm_cell_second,
     .samples = {{.inputs = cell_backward_inputs()}}});

// ---- lstm_cell ----
static const Op<void> kLstmCell(
    {.name = "lstm_cell",
     .forward =
         [](Inputs in) {
           const Tensor &gates = in[0], &c = in[1];
           check_cell("lstm_cell", gates, c);
           const int64_t N = c.size(0), H = c.size(1);
           Tensor out = make_tensor({N, 2 * H}, c.dtype(), "lstm_cell");
           dispatch(c.dtype(), [&](auto tag) {
             using T = decltype(tag);
             std::vector<T> scratch(static_cast<size_t>(2 * H));
             Row<T> ai(scratch.data(), H), ag(scratch.data() + H, H);
             for (int64_t n = 0; n < N; ++n) {
               const T* p = ptr<T>(gates) + n * 4 * H;
               T* o = ptr<T>(out) + n * 2 * H;
               Row<T> c2(o + H, H);
               ai = logistic_of<T>(ConstRow<T>(p, H));
               ag = tanh_of<T>(ConstRow<T>(p + 2 * H, H));
               c2 = logistic_of<T>(ConstRow<T>(p + H, H)) * ConstRow<T>(ptr<T>(c) + n * H, H) + ai * ag;
               Row<T>(o, H) = logistic_of<T>(ConstRow<T>(p + 3 * H, H)) * tanh_of<T>(c2);
             }
           });
           return out;
         },
     .backward =
         [](BackwardContext& ctx) {
           const int64_t H = ctx.input(1).size(1);
           const Tensor d = lstm_cell_backward(ctx.grad(), ctx.input(0), ctx.input(1));
           if (ctx.needs_grad(0)) ctx.accumulate(0, slice(d, 1, 0, 4 * H));
           if (ctx.needs_grad(1)) ctx.accumulate(1, slice(d, 1, 4 * H, 5 * H));
         },
     .samples = {{.inputs = [](Dtype d, Generator& gen) {
       return std::vector<OpSample>{{{samples::normal({3, 8}, d, gen), samples::normal({3, 2}, d, gen)}, "N=3 H=2"}};
     }}}});

}  // namespace

Tensor lstm_cell(const Tensor& gates, const Tensor& c) { return kLstmCell({gates, c}); }
Tensor lstm_cell_backward(const Tensor& grad, const Tensor& gates, const Tensor& c) {
  return kLstmCellBackward({grad, gates, c});
}

}  // namespace tapegrad
