// check_op: the per-op checks of the test suite, public so that a user's registered functions
// get exactly the checks the built-in ops get.
#include <algorithm>
#include <cmath>
#include <sstream>

#include <cstring>

#include "tapegrad/autograd/autocast.h"
#include "tapegrad/autograd/compile.h"
#include "tapegrad/autograd/grad.h"
#include "tapegrad/autograd/gradcheck.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/autograd/ops.h"
#include "tapegrad/autograd/testing.h"

namespace tapegrad {

namespace {
std::string label(const OpEntry& e, const OpSample& s, const char* check) {
  return e.name + (e.variant.empty() ? "" : " (" + e.variant + ")") + " on " + s.note + ": " + check;
}

// What gradcheck perturbs: not the data, nor the variables whose gradient is zero by construction.
std::vector<size_t> not_compared(const OpEntry& e) {
  std::vector<size_t> skip = e.nondiff_inputs;
  skip.insert(skip.end(), e.zero_gradient_inputs.begin(), e.zero_gradient_inputs.end());
  return skip;
}

bool is_data(const OpEntry& e, size_t i) {
  return std::count(e.nondiff_inputs.begin(), e.nondiff_inputs.end(), i) > 0;
}

// Gradients of sum(fn(inputs)) in dtype `d`, for the inputs that are variables.
std::vector<std::vector<double>> grads_in(const OpEntry& e, const OpSample& s, Dtype d) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < s.inputs.size(); ++i) in.push_back(s.inputs[i].to(d).clone().requires_grad(!is_data(e, i)));
  Tensor out = e.fn(in);
  if (out.dtype() != d)
    throw Error(e.name + ": returned " + std::string(dtype_name(out.dtype())) + " for " + std::string(dtype_name(d)) +
                " inputs");
  sum(out).backward();
  std::vector<std::vector<double>> g;
  for (const Tensor& t : in)
    if (t.requires_grad()) g.push_back(t.grad().to_vector<double>());
  return g;
}

OpCheck gradcheck_f64(const OpEntry& e, const OpSample& s) {
  GradcheckOptions o;
  o.skip_inputs = not_compared(e);
  o.eps = e.eps;
  o.allow_vacuous = e.zero_gradient;
  GradcheckReport r = gradcheck(e.fn, s.inputs, o);
  OpCheck c{label(e, s, "gradcheck float64"), r.ok && !r.nodes.empty(), r.str()};
  if (r.nodes.empty()) c.detail += "no node was checked: the function recorded nothing\n";
  return c;
}

// Second order. An input whose second derivative is zero (x in x + y, or in a product with
// itself not involved) compares zeros with zeros, which is right for a linear op; the upstream v
// (the report's last input) must not: the first derivative is J^T v, zero only for an op whose
// gradient is zero on purpose.
OpCheck gradgradcheck_f64(const OpEntry& e, const OpSample& s) {
  GradcheckOptions o;
  o.skip_inputs = not_compared(e);
  o.eps = e.eps;
  o.allow_vacuous = true;
  GradcheckReport r = gradgradcheck(e.fn, s.inputs, o);
  OpCheck c{label(e, s, "gradgradcheck float64"), r.ok && !r.nodes.empty(), r.str()};
  if (r.nodes.empty()) c.detail += "no node was checked: the gradient recorded nothing\n";
  if (!e.zero_gradient && (r.inputs.empty() || r.inputs.back().vacuous)) {
    c.ok = false;
    c.detail += "the first derivative is zero at every element: the second-order check compared nothing\n";
  }
  return c;
}

// H u for the variables, by double backward of sum(out * w), in dtype `d` (w and u fixed).
std::vector<std::vector<double>> second_in(const OpEntry& e, const OpSample& s, Dtype d) {
  std::vector<Tensor> in, wrt;
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    in.push_back(s.inputs[i].to(d).clone().requires_grad(!is_data(e, i)));
    if (!is_data(e, i)) wrt.push_back(in.back());
  }
  Tensor out = e.fn(in);
  if (!out.requires_grad()) return {};
  Generator gen(7);
  const Tensor w = randn(out.shape(), gen, Dtype::f64).to(d);
  std::vector<Tensor> g = grad(sum(out * w), wrt, {.create_graph = true, .allow_unused = true});
  Tensor gu;
  for (const Tensor& gk : g) {
    const Tensor term = sum(gk * randn(gk.shape(), gen, Dtype::f64).to(d));
    gu = gu.defined() ? gu + term : term;
  }
  std::vector<std::vector<double>> h;
  if (!gu.requires_grad()) return h;
  for (const Tensor& t : grad(gu, wrt, {.allow_unused = true})) h.push_back(t.to_vector<double>());
  return h;
}

OpCheck second_f32_against_f64(const OpEntry& e, const OpSample& s) {
  OpCheck c{label(e, s, "float32 double backward against float64"), true, ""};
  const auto h32 = second_in(e, s, Dtype::f32), h64 = second_in(e, s, Dtype::f64);
  std::ostringstream os;
  if (h32.size() != h64.size()) {
    c.ok = false;
    os << "float32 gives " << h32.size() << " second derivatives, float64 " << h64.size() << "\n";
  }
  for (size_t i = 0; i < h32.size() && i < h64.size(); ++i)
    for (size_t k = 0; k < h32[i].size(); ++k)
      if (!(std::abs(h32[i][k] - h64[i][k]) <= 1e-3 + 1e-3 * std::abs(h64[i][k]))) {
        c.ok = false;
        os << "input " << i << " element " << k << ": float32 " << h32[i][k] << ", float64 " << h64[i][k] << "\n";
      }
  c.detail = os.str();
  return c;
}

OpCheck f32_against_f64(const OpEntry& e, const OpSample& s) {
  OpCheck c{label(e, s, "float32 backprop against float64"), true, ""};
  const auto g32 = grads_in(e, s, Dtype::f32), g64 = grads_in(e, s, Dtype::f64);
  std::ostringstream os;
  for (size_t i = 0; i < g32.size(); ++i)
    for (size_t k = 0; k < g32[i].size(); ++k)
      if (!(std::abs(g32[i][k] - g64[i][k]) <= 1e-4 + 1e-4 * std::abs(g64[i][k]))) {
        c.ok = false;
        os << "input " << i << " element " << k << ": float32 " << g32[i][k] << ", float64 " << g64[i][k] << "\n";
      }
  c.detail = os.str();
  return c;
}
// Under tg::AutocastGuard the op's float32 products take bfloat16 operands: its output and the
// gradients of sum(output) must match float64 within bfloat16's precision (8 significant bits:
// 2^-5 of the result's scale allows for a few roundings summed), and must differ from the plain
// float32 ones somewhere, so that the check proves the bfloat16 path ran.
OpCheck autocast_against_f64(const OpEntry& e, const OpSample& s) {
  OpCheck c{label(e, s, "bfloat16 autocast against float64"), true, ""};
  auto run = [&](Dtype d, bool autocast) {
    std::vector<Tensor> in;
    for (size_t i = 0; i < s.inputs.size(); ++i) in.push_back(s.inputs[i].to(d).clone().requires_grad(!is_data(e, i)));
    AutocastGuard guard(autocast ? Dtype::bf16 : Dtype::f32);
    Tensor out = e.fn(in);
    std::vector<std::vector<double>> r{out.to_vector<double>()};
    sum(out).backward();
    for (const Tensor& t : in)
      if (t.requires_grad()) r.push_back(t.grad().to_vector<double>());
    return r;
  };
  const auto mixed = run(Dtype::f32, true), plain = run(Dtype::f32, false), ref = run(Dtype::f64, false);
  std::ostringstream os;
  bool differs = false;
  for (size_t i = 0; i < ref.size(); ++i) {
    double scale = 1;
    for (double v : ref[i]) scale = std::max(scale, std::abs(v));
    const char* what = i == 0 ? "output" : "gradient";
    for (size_t k = 0; k < ref[i].size(); ++k) {
      differs = differs || mixed[i][k] != plain[i][k];
      if (!(std::abs(mixed[i][k] - ref[i][k]) <= 0x1p-5 * scale)) {
        c.ok = false;
        os << what << " " << i << " element " << k << ": bfloat16 autocast " << mixed[i][k] << ", float64 "
           << ref[i][k] << "\n";
      }
    }
  }
  if (!differs) {
    c.ok = false;
    os << "autocast gave bitwise the float32 results: its products did not round their operands to bfloat16\n";
  }
  c.detail = os.str();
  return c;
}

// The function's output and its inputs' gradients (of sum(output)), flattened, with input `i`'s
// element `j` set to `v`.
struct Eval {
  std::vector<double> out;
  std::vector<std::vector<double>> grads;
};
Eval eval_with(const OpEntry& e, const OpSample& s, size_t i, int64_t j, double v) {
  std::vector<Tensor> in;
  for (size_t k = 0; k < s.inputs.size(); ++k) in.push_back(s.inputs[k].clone().requires_grad(!is_data(e, k)));
  in[i].data<double>()[j] = v;
  Tensor out = e.fn(in);
  Eval r{out.to_vector<double>(), {}};
  sum(out).backward();
  for (const Tensor& t : in) r.grads.push_back(t.requires_grad() ? t.grad().to_vector<double>() : std::vector<double>());
  return r;
}

// NaN in means NaN out: with one input element NaN, every output element and every gradient
// element that depends on that element's value (it changes when the value moves a little)
// must be NaN. Values a gradient does not depend on (the 1 of d(x + c)/dx, the subgradient of
// relu) may stay finite, as in PyTorch.
OpCheck nan_propagates(const OpEntry& e, const OpSample& s) {
  OpCheck c{label(e, s, "NaN propagates"), true, ""};
  std::ostringstream os;
  auto require = [&](const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& nan,
                     const std::string& what) {
    for (size_t k = 0; k < a.size() && k < nan.size(); ++k)
      if (a[k] != b[k] && !std::isnan(nan[k])) {
        c.ok = false;
        os << what << " element " << k << " is " << nan[k] << ", not NaN\n";
      }
  };
  for (size_t i = 0; i < s.inputs.size(); ++i) {
    if (is_data(e, i)) continue;
    for (int64_t j = 0; j < s.inputs[i].numel(); ++j) {
      const double v = s.inputs[i].to_vector<double>()[static_cast<size_t>(j)];
      const Eval a = eval_with(e, s, i, j, v), b = eval_with(e, s, i, j, v + 1e-3 * (1 + std::abs(v)));
      const Eval n = eval_with(e, s, i, j, std::nan(""));
      const std::string at = "with input " + std::to_string(i) + " element " + std::to_string(j) + " NaN: ";
      require(a.out, b.out, n.out, at + "output");
      for (size_t k = 0; k < a.grads.size(); ++k)
        require(a.grads[k], b.grads[k], n.grads[k], at + "gradient of input " + std::to_string(k));
    }
  }
  c.detail = os.str();
  return c;
}

// A compiled call of the op (at sample `a`) replayed at other samples (`b`, then `a` again)
// gives bitwise the op's eager output and the gradients of sum(output * w), w fixed.
struct Run {
  std::vector<double> out;
  std::vector<std::vector<double>> grads;
};
std::vector<Tensor> fresh_inputs(const OpEntry& e, const OpSample& s) {
  std::vector<Tensor> in;
  for (size_t i = 0; i < s.inputs.size(); ++i)
    in.push_back(s.inputs[i].clone().requires_grad(e.differentiable && !is_data(e, i)));
  return in;
}
Run collect(const Tensor& out, const std::vector<Tensor>& in) {
  Run r{out.to_vector<double>(), {}};
  for (const Tensor& t : in) r.grads.push_back(t.has_grad() ? t.grad().to_vector<double>() : std::vector<double>());
  return r;
}
bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}

OpCheck replay_equals_eager(const OpEntry& e, const OpSample& a, const std::vector<const OpSample*>& others, Dtype d) {
  OpCheck c{label(e, a, d == Dtype::f64 ? "replay equals eager float64" : "replay equals eager float32"), true, ""};
  std::ostringstream os;
  Tensor w, out;
  auto loss = [&](const std::vector<Tensor>& in) {
    out = e.fn(in);
    if (!w.defined()) {
      Generator wg(11);
      w = randn(out.shape(), wg, Dtype::f64).to(out.dtype());
    }
    return e.differentiable ? sum(out * w) : out;
  };
  auto eager = [&](const OpSample& s) {
    std::vector<Tensor> in = fresh_inputs(e, s);
    Tensor l = loss(in);
    if (l.requires_grad()) l.backward();
    return collect(out, in);
  };
  try {
    const Run at_a = eager(a);  // draws w (a draw inside compile() would be an error)
    // A helper whose result does not depend on the inputs' values (one_hot of fixed labels)
    // computes no op from them: nothing to replay, and nothing a replay could get wrong.
    if (!e.differentiable && std::all_of(others.begin(), others.end(), [&](const OpSample* s) {
          return same_bits(eager(*s).out, at_a.out);
        }))
      return c;
    std::vector<Tensor> example = fresh_inputs(e, a);
    // Blocks of 16 bytes: the op's instructions and the loss's multiplications fuse at the
    // samples' sizes, with partial last blocks.
    Compiled step = compile(loss, example, {.fuse_block_bytes = 16});
    Tensor kept = out;  // the op's result: a slot of the step, rewritten by each replay
    std::vector<const OpSample*> order = others;
    order.push_back(&a);
    for (const OpSample* s : order) {
      std::vector<Tensor> in = fresh_inputs(e, *s);
      Tensor l = step(in);
      if (l.requires_grad()) l.backward();
      const Run replayed = collect(kept, in), reference = eager(*s);
      if (!same_bits(replayed.out, reference.out)) {
        c.ok = false;
        os << "at " << s->note << ": the replayed output differs from the eager one\n";
      }
      for (size_t i = 0; i < replayed.grads.size(); ++i)
        if (!same_bits(replayed.grads[i], reference.grads[i])) {
          c.ok = false;
          os << "at " << s->note << ": the replayed gradient of input " << i << " differs from the eager one\n";
        }
    }
  } catch (const Error& err) {
    c.ok = false;
    os << "replay failed: " << err.what() << "\n";
  }
  c.detail = os.str();
  return c;
}

// For each sample of dtype `d`, the samples of another draw with the same shapes.
void replay_checks(const OpEntry& e, Dtype d, uint64_t seed, std::vector<OpCheck>& out) {
  Generator ga(seed + 101), gb(seed + 202);
  const std::vector<OpSample> first = e.samples(d, ga), second = e.samples(d, gb);
  for (size_t k = 0; k < first.size(); ++k) {
    std::vector<const OpSample*> others;
    for (const OpSample& s : second) {
      bool same = s.inputs.size() == first[k].inputs.size();
      for (size_t i = 0; same && i < s.inputs.size(); ++i) same = s.inputs[i].shape() == first[k].inputs[i].shape();
      if (same) others.push_back(&s);
    }
    if (others.empty()) {
      out.push_back({label(e, first[k], "replay equals eager"), false,
                     "no second sample with the same shapes: the replay would only be checked at its own inputs\n"});
      continue;
    }
    out.push_back(replay_equals_eager(e, first[k], others, d));
  }
}
}  // namespace

std::vector<OpCheck> check_op(const OpEntry& e, uint64_t seed) {
  Generator gen(seed);
  std::vector<OpCheck> out;
  const std::vector<OpSample> f64 = e.samples(Dtype::f64, gen);
  if (f64.empty()) throw Error("check_op: " + e.name + " has no samples, so nothing would be checked");
  for (const OpSample& s : f64) {
    if (!e.differentiable) {
      Tensor y = e.fn(s.inputs);
      out.push_back({label(e, s, "runs unrecorded"), !y.requires_grad(), y.requires_grad() ? "its output requires gradients" : ""});
      continue;
    }
    out.push_back(gradcheck_f64(e, s));
    out.push_back(gradgradcheck_f64(e, s));
    out.push_back(nan_propagates(e, s));
  }
  if (e.differentiable)
    for (const OpSample& s : e.samples(Dtype::f32, gen)) {
      out.push_back(f32_against_f64(e, s));
      out.push_back(second_f32_against_f64(e, s));
    }
  for (Dtype d : {Dtype::f64, Dtype::f32}) replay_checks(e, d, seed, out);
  if (e.autocast) {
    for (const OpSample& s : e.samples(Dtype::f32, gen)) out.push_back(autocast_against_f64(e, s));
    std::vector<OpCheck> replays;
    {
      AutocastGuard guard(Dtype::bf16);
      replay_checks(e, Dtype::f32, seed, replays);
    }
    for (OpCheck& c : replays) {
      c.label += " under bfloat16 autocast";
      out.push_back(std::move(c));
    }
  }
  return out;
}

}  // namespace tapegrad
