#include "tapegrad/autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "tapegrad/autograd/autocast.h"
#include "tapegrad/autograd/compile.h"
#include "tapegrad/autograd/function.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/autograd/ops.h"
#include "tapegrad/autograd/tape.h"
#include "tensor_impl.h"

namespace tapegrad {

namespace {

std::vector<int64_t> unravel(int64_t flat, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  return idx;
}

std::string index_str(const std::vector<int64_t>& idx) {
  std::string r = "[";
  for (size_t d = 0; d < idx.size(); ++d) r += (d ? ", " : "") + std::to_string(idx[d]);
  return r + "]";
}

// Directions v in output space: one-hot rows of the Jacobian, or random normal projections.
std::vector<Tensor> directions(const Shape& out_shape, const GradcheckOptions& o, std::string& method) {
  std::vector<Tensor> dirs;
  const int64_t m = out_shape.numel();
  if (m <= o.full_jacobian_limit) {
    for (int64_t r = 0; r < m; ++r) {
      Tensor v = zeros(out_shape, Dtype::f64);
      v.data<double>()[r] = 1.0;
      dirs.push_back(v);
    }
    method = "full Jacobian (" + std::to_string(m) + " rows)";
  } else {
    Generator gen(o.seed);
    for (int p = 0; p < o.projections; ++p) dirs.push_back(randn(out_shape, gen, Dtype::f64));
    method = std::to_string(o.projections) + " random projections";
  }
  return dirs;
}

double dot(const Tensor& a, const Tensor& b) {
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double s = 0;
  for (size_t k = 0; k < x.size(); ++k) s += x[k] * y[k];
  return s;
}

// The tape holding `t`'s node: a compiled step's result is on the step's own, not this thread's.
const Tape& tape_of(const Tensor& t) {
  return impl_of(t)->node >= 0 && impl_of(t)->tape ? *impl_of(t)->tape : Tape::current();
}

bool skipped(const GradcheckOptions& o, size_t i) {
  return std::find(o.skip_inputs.begin(), o.skip_inputs.end(), i) != o.skip_inputs.end();
}

// The leaves a function captures (not gradcheck's own input copies): gradcheck's backward passes
// add to their grad(), so it is copied before and put back after, as PyTorch's gradcheck, which
// uses autograd.grad, leaves .grad alone.
class CapturedGrads {
 public:
  CapturedGrads(const Tensor& out, const std::vector<Tensor>& own) {
    for (const NodeView& v : tape_of(out).nodes_of(out))
      for (const Tensor& t : v.inputs) {
        if (!t.requires_grad() || !t.is_leaf()) continue;
        const bool mine = std::any_of(own.begin(), own.end(), [&](const Tensor& o) { return o.is_same(t); });
        const bool seen = std::any_of(saved_.begin(), saved_.end(), [&](const auto& s) { return s.first.is_same(t); });
        if (!mine && !seen) saved_.emplace_back(t, t.has_grad() ? t.grad().clone() : Tensor());
      }
  }
  ~CapturedGrads() {
    for (auto& [t, g] : saved_) t.set_grad(g);
  }
  CapturedGrads(const CapturedGrads&) = delete;
  CapturedGrads& operator=(const CapturedGrads&) = delete;

 private:
  std::vector<std::pair<Tensor, Tensor>> saved_;
};

// The whole-function comparison, on float64 copies of the inputs. Leaves `out` recorded so the
// caller can go on to check its nodes.
bool listed(const std::vector<ElementRef>& kinks, size_t input, int64_t element) {
  return std::any_of(kinks.begin(), kinks.end(), [&](const ElementRef& k) { return k.input == input && k.element == element; });
}

// `kinks`: elements left out (they sit at a kink); `output_moves` is set when some perturbation
// changed the output.
// The perturbed forwards: a replay of one compiled call of `fn` at the inputs, whose values the
// callers change in place between calls, or `fn` itself when it cannot be compiled.
class Forward {
 public:
  Forward(const TensorFn& fn, const std::vector<Tensor>& in, bool replay) : fn_(fn) {
    if (!replay) return;
    NoGradGuard no_grad;  // the replays need values only: the step records no node
    try {
      step_ = compile(fn, in);
    } catch (const Error&) {
      // Not compilable (values read to the host, random draws): eager calls are still right.
    }
  }
  Tensor operator()(const std::vector<Tensor>& in) { return step_.defined() ? step_(in) : fn_(in); }

 private:
  const TensorFn& fn_;
  Compiled step_;
};

std::vector<InputCheck> compare(const TensorFn& fn, std::vector<Tensor>& in, const GradcheckOptions& o,
                                std::string& method, Tensor& out, int64_t& compared, bool& reentrant,
                                const std::vector<ElementRef>& kinks, bool& output_moves) {
  for (size_t i = 0; i < in.size(); ++i) in[i].requires_grad(!skipped(o, i));
  out = fn(in);
  if (!out.defined()) throw Error("gradcheck: the function returned an undefined tensor");
  const Shape out_shape = out.shape();
  std::vector<Tensor> dirs = directions(out_shape, o, method);
  const bool projected = out_shape.numel() > o.full_jacobian_limit;

  // analytical[d][i] = J_i^T v_d, by backward with upstream v_d.
  std::vector<std::vector<Tensor>> analytical(dirs.size());
  const CapturedGrads captured(out, in);
  for (size_t d = 0; d < dirs.size(); ++d) {
    for (Tensor& x : in) x.set_grad(Tensor());
    if (out.requires_grad()) out.backward(dirs[d].to(out.dtype()), {.retain_graph = true});
    for (Tensor& x : in) analytical[d].push_back(x.has_grad() ? x.grad().to(Dtype::f64) : zeros(x.shape(), Dtype::f64));
  }
  if (o.check_reentrant && !dirs.empty() && out.requires_grad()) {
    for (Tensor& x : in) x.set_grad(Tensor());
    out.backward(dirs[0].to(out.dtype()), {.retain_graph = true});
    for (size_t i = 0; i < in.size(); ++i) {
      const Tensor again = in[i].has_grad() ? in[i].grad().to(Dtype::f64) : zeros(in[i].shape(), Dtype::f64);
      const std::vector<double> a = again.to_vector<double>(), b = analytical[0][i].to_vector<double>();
      if (!a.empty() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) != 0) reentrant = false;  // bits, NaN too
    }
  }

  std::vector<InputCheck> checks;
  Forward forward(fn, in, o.replay);
  NoGradGuard no_grad;
  for (size_t i = 0; i < in.size(); ++i) {
    InputCheck c;
    c.input = i;
    if (skipped(o, i)) {
      c.skipped = true;
      checks.push_back(c);
      continue;
    }
    double worst_excess = -1, biggest = 0;
    Tensor x = in[i];
    int64_t compared_here = 0;
    double* p = x.data<double>();
    for (int64_t j = 0, n = x.numel(); j < n; ++j) {
      if (listed(kinks, i, j)) {
        c.at_kinks.push_back(unravel(j, x.shape()));
        continue;
      }
      if (!dirs.empty()) ++compared_here;
      const double saved = p[j];
      p[j] = saved + o.eps;
      Tensor fp = forward(in).to(Dtype::f64).clone();  // the output may alias the perturbed input
      p[j] = saved - o.eps;
      Tensor fm = forward(in).to(Dtype::f64).clone();
      p[j] = saved;
      for (size_t d = 0; d < dirs.size(); ++d) {
        const double num = (dot(fp, dirs[d]) - dot(fm, dirs[d])) / (2 * o.eps);
        const double ana = analytical[d][i].data<double>()[j];
        const double err = std::abs(ana - num);
        biggest = std::max({biggest, std::abs(ana), std::abs(num)});
        if (std::abs(num) > kVacuousBelow || std::isnan(num)) output_moves = true;
        const double excess = std::isnan(err) ? INFINITY : err - (o.atol + o.rtol * std::abs(num));
        c.max_abs_error = std::max(c.max_abs_error, std::isnan(err) ? INFINITY : err);
        c.max_rel_error = std::max(c.max_rel_error, err / std::max(std::abs(num), 1e-12));
        if (excess > 0) c.ok = false;
        if (excess > worst_excess) {
          worst_excess = excess;
          c.worst_index = unravel(j, x.shape());
          c.analytical = ana;
          c.numerical = num;
          c.direction = static_cast<int64_t>(d);
          c.projected = projected;
          c.output_index = projected ? std::vector<int64_t>{} : unravel(static_cast<int64_t>(d), out_shape);
        }
      }
    }
    compared += compared_here;
    if (compared_here > 0 && biggest <= kVacuousBelow) {
      c.vacuous = true;
      if (!o.allow_vacuous) c.ok = false;
    }
    checks.push_back(c);
  }
  return checks;
}

std::vector<Tensor> promote(const std::vector<Tensor>& inputs, bool& promoted) {
  std::vector<Tensor> out;
  for (const Tensor& t : inputs) {
    if (!t.defined()) throw Error("gradcheck: an input tensor is undefined");
    if (t.dtype() == Dtype::f32) promoted = true;
    Tensor c = t.detach().to(Dtype::f64);
    out.push_back(impl_of(c) == impl_of(t) || impl_of(c)->storage == impl_of(t)->storage ? c.clone() : c);
  }
  return out;
}

NodeCheck check_node(const NodeView& v, const GradcheckOptions& o, bool& promoted, int64_t& elements) {
  NodeCheck nc;
  nc.position = v.position;
  nc.op = v.op;
  std::vector<Tensor> in = promote(v.inputs, promoted);
  for (const Tensor& t : in) nc.input_shapes.push_back(t.shape());
  GradcheckOptions inner = o;
  inner.check_nodes = false;
  inner.skip_inputs.clear();  // the caller's skip list names the function's inputs, not this node's
  inner.allow_vacuous = true;  // a node's verdict rests on its non-zero comparisons; vacuity is reported
  std::string method;
  Tensor out;
  int64_t compared = 0;
  bool reentrant = true, moves = false;
  const std::vector<ElementRef> kinks = v.near_kinks ? v.near_kinks(o.eps) : std::vector<ElementRef>{};
  nc.inputs = compare(v.replay, in, inner, method, out, compared, reentrant, kinks, moves);
  nc.inconclusive = !kinks.empty();
  nc.vacuous = std::all_of(nc.inputs.begin(), nc.inputs.end(), [](const InputCheck& c) { return c.vacuous; });
  if (!reentrant) {
    nc.ok = false;
    nc.reentrant = false;
  }
  elements += compared;
  for (const InputCheck& c : nc.inputs) nc.ok = nc.ok && c.ok;
  return nc;
}

void add_node_checks(GradcheckReport& r, const Tensor& root, const GradcheckOptions& o) {
  // The views hold what they need (replays own copies of the arguments): checking records new
  // nodes, which may move the tape's own.
  std::vector<NodeView> views = tape_of(root).nodes_of(root);
  for (size_t k = 0; k < views.size(); ++k) {
    r.nodes.push_back(check_node(views[k], o, r.promoted, r.elements_compared));
    if (!r.nodes.back().ok) r.ok = false;
    if (r.nodes.back().inconclusive) r.inconclusive = true;
  }
}

}  // namespace

namespace {
// The inputs' promotion is gradcheck's doing, so a float32 tensor inside the function that no
// longer matches them would otherwise read as the user's dtype bug.
[[noreturn]] void rethrow_with_promotion(const Error& e, bool promoted, const char* who) {
  const std::string what = e.what();
  const bool dtype_clash = what.find("float32") != std::string::npos && what.find("float64") != std::string::npos;
  if (!promoted || !dtype_clash) throw e;
  throw Error(what + "\n  (" + who + " promoted the float32 inputs to float64 for the check; a float32 tensor the " +
              "function makes or captures itself, such as a constant or a layer's weight, now meets them: create it " +
              "with the input's dtype, or pass it to " + who + " as an input)");
}

void check_options(const std::vector<Tensor>& inputs, const GradcheckOptions& o) {
  if (inputs.empty()) throw Error("gradcheck: no inputs: there is nothing to check");
  for (size_t i : o.skip_inputs)
    if (i >= inputs.size())
      throw Error("gradcheck: skip_inputs names input " + std::to_string(i) + ", but there are " +
                  std::to_string(inputs.size()) + " input" + (inputs.size() == 1 ? "" : "s"));
  if (o.projections < 1) throw Error("gradcheck: projections must be at least 1, got " + std::to_string(o.projections));
}

// A report that compared nothing, or found no node to check, proves nothing: never PASSED.
// So does one whose output no perturbation moved (`output_moves` false), or one that compared
// only zeros for an input (InputCheck::vacuous), unless `allow_vacuous`. The first reason wins.
void refuse_vacuous(GradcheckReport& r, bool nodes_expected, bool output_moves, bool allow_vacuous) {
  if (r.elements_compared == 0)
    r.vacuous = "no element was compared (every input skipped, or no input or output has elements)";
  else if (nodes_expected && r.nodes.empty())
    r.vacuous = "no node was recorded, so none was checked (does the output depend on an input through an op?)";
  else if (!output_moves && !allow_vacuous)
    r.vacuous = "the output is changed by no perturbation of any input";
  std::vector<size_t> zero_inputs;
  for (const InputCheck& c : r.inputs)
    if (c.vacuous && !allow_vacuous) zero_inputs.push_back(c.input);
  if (!zero_inputs.empty() && r.vacuous.empty()) {
    r.vacuous = "every derivative compared is zero, analytical and numerical, for input";
    for (size_t k = 0; k < zero_inputs.size(); ++k) r.vacuous += (k ? ", " : " ") + std::to_string(zero_inputs[k]);
    r.vacuous += " (zeros agree with zeros whether or not the gradient is right; pass {.allow_vacuous = true} to accept it)";
  }
  if (!r.vacuous.empty()) r.ok = false;
}

// Disagreements where a kink explains them are neither a pass nor a failure; a node that failed
// away from its kinks is a failure, kinks or not.
void settle_inconclusive(GradcheckReport& r) {
  if (!r.inconclusive) return;
  if (std::any_of(r.nodes.begin(), r.nodes.end(), [](const NodeCheck& n) { return !n.ok; })) r.inconclusive = false;
  else r.ok = false;
}
}  // namespace

namespace detail {
// Under autocast the products round their operands to bfloat16 (8 significant bits): central
// differences would measure that rounding, not the derivative, and every check would fail, or,
// with tolerances loose enough to pass, prove nothing.
void refuse_autocast(const char* who) {
  if (autocast_enabled())
    throw Error(std::string(who) + ": refusing to run under tg::AutocastGuard: its products round their operands to "
                "bfloat16 (8 significant bits), so finite differences would measure that rounding, not the derivative. "
                "Check the function outside the guard (in float64, where autocast changes nothing)");
}
}  // namespace detail

GradcheckReport gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  detail::refuse_autocast("gradcheck");
  check_options(inputs, options);
  GradcheckReport r;
  std::vector<Tensor> in = promote(inputs, r.promoted);
  Tensor out;
  bool moves = false;
  try {
    r.inputs = compare(fn, in, options, r.method, out, r.elements_compared, r.reentrant, {}, moves);
  } catch (const Error& e) {
    rethrow_with_promotion(e, r.promoted, "gradcheck");
  }
  if (!r.reentrant) r.ok = false;
  for (const InputCheck& c : r.inputs) r.ok = r.ok && c.ok;
  if (options.check_nodes) add_node_checks(r, out, options);
  refuse_vacuous(r, options.check_nodes, moves, options.allow_vacuous);
  settle_inconclusive(r);
  return r;
}

GradcheckReport gradcheck_nodes(const Tensor& root, const GradcheckOptions& options) {
  detail::refuse_autocast("gradcheck_nodes");
  if (!root.defined()) throw Error("gradcheck_nodes: the tensor is undefined");
  if (!root.requires_grad() || root.is_leaf())
    throw Error("gradcheck_nodes: the tensor is a leaf (no op recorded it), so it has no nodes to check");
  if (tape_of(root).nodes_of(root).empty())
    throw Error("gradcheck_nodes: the graph of this " + root.shape().str() +
                " tensor was released (by backward() without {.retain_graph = true}, or with its thread), so no "
                "node is left to check; run gradcheck_nodes before backward(), or retain the graph");
  GradcheckReport r;
  r.method = "per node";
  add_node_checks(r, root, options);
  refuse_vacuous(r, true, true, options.allow_vacuous);  // no whole-function comparison: inputs is empty
  settle_inconclusive(r);
  return r;
}

namespace {
std::vector<Tensor> numerical_grad_f64(const TensorFn& fn, std::vector<Tensor>& in, double eps, bool replay) {
  std::vector<Tensor> grads;
  Forward forward(fn, in, replay);
  NoGradGuard no_grad;
  for (Tensor& x : in) {
    Tensor g = zeros(x.shape(), Dtype::f64);
    double* p = x.data<double>();
    auto value = [](const Tensor& f) {
      if (f.numel() != 1)
        throw Error("numerical_grad: the function must return one element, got shape " + f.shape().str());
      return f.item();  // read at once: the next replay rewrites the step's result
    };
    for (int64_t j = 0, n = x.numel(); j < n; ++j) {
      const double saved = p[j];
      p[j] = saved + eps;
      const double up = value(forward(in));
      p[j] = saved - eps;
      const double down = value(forward(in));
      p[j] = saved;
      g.data<double>()[j] = (up - down) / (2 * eps);
    }
    grads.push_back(g);
  }
  return grads;
}
}  // namespace

std::vector<Tensor> numerical_grad(const TensorFn& fn, const std::vector<Tensor>& inputs, double eps, bool replay) {
  bool promoted = false;
  std::vector<Tensor> in = promote(inputs, promoted);
  try {
    return numerical_grad_f64(fn, in, eps, replay);
  } catch (const Error& e) {
    rethrow_with_promotion(e, promoted, "numerical_grad");
  }
}

const NodeCheck* GradcheckReport::first_bad_node() const {
  for (const NodeCheck& n : nodes)
    if (!n.ok) return &n;
  return nullptr;
}

namespace {
// `show_worst`: where an input came closest to (or went furthest past) its tolerance. Shown for
// failing inputs, and for every input of a passing report; a passing input of a failing report
// or node would otherwise read like a finding.
void input_line(std::ostringstream& os, const InputCheck& c, const std::string& indent, bool show_worst) {
  if (c.skipped) {
    os << indent << "input " << c.input << ": skipped (skip_inputs: not perturbed, not compared)\n";
    return;
  }
  os << indent << "input " << c.input << ": " << (c.vacuous ? "vacuous" : c.ok ? "ok  " : "FAIL") << " max abs error "
     << c.max_abs_error << ", max rel error " << c.max_rel_error;
  for (const std::vector<int64_t>& k : c.at_kinks) os << "; inconclusive at " << index_str(k) << " (a kink within eps)";
  if (show_worst && c.direction >= 0) {
    os << "; worst at " << index_str(c.worst_index);
    if (c.projected) os << " (projection " << c.direction << ")";
    else if (c.output_index.empty()) os << " (row " << c.direction << ")";
    else os << " (row " << c.direction << ": output " << index_str(c.output_index) << ")";
    os << ": analytical " << c.analytical << ", numerical " << c.numerical;
  }
  os << "\n";
}
}  // namespace

std::string GradcheckReport::str() const {
  std::ostringstream os;
  os.precision(6);
  const bool failed = !reentrant || !first_order_mismatch.empty() ||
                      std::any_of(inputs.begin(), inputs.end(), [](const InputCheck& c) { return !c.ok && !c.vacuous; }) ||
                      std::any_of(nodes.begin(), nodes.end(), [](const NodeCheck& n) { return !n.ok; });
  os << "gradcheck: " << (ok ? "PASSED" : inconclusive ? "INCONCLUSIVE" : failed ? "FAILED" : "VACUOUS") << " ("
     << method << ", float64" << (promoted ? ", float32 inputs promoted" : "") << ")\n";
  if (!vacuous.empty()) os << "  vacuous, nothing proven: " << vacuous << "\n";
  if (inconclusive)
    os << "  inconclusive: a sample point sits within eps of a kink (listed below); move it, or the step\n";
  if (!first_order_mismatch.empty()) os << "  first derivative: " << first_order_mismatch << "\n";
  if (!reentrant) os << "  not reentrant: a second backward gave other bits than the first\n";
  for (const InputCheck& c : inputs) input_line(os, c, "  ", ok || !c.ok);
  for (const NodeCheck& n : nodes) {
    os << "  node " << n.position << " " << n.op << " (";
    for (size_t k = 0; k < n.input_shapes.size(); ++k) os << (k ? ", " : "") << n.input_shapes[k].str();
    os << "): " << (!n.ok ? "FAIL" : n.inconclusive ? "inconclusive" : n.vacuous ? "vacuous" : "ok")
       << (n.reentrant ? "" : " (not reentrant: a second backward gave other bits)") << "\n";
    if (!n.ok || n.inconclusive)
      for (const InputCheck& c : n.inputs) input_line(os, c, "    ", !c.ok);
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const GradcheckReport& r) { return os << r.str(); }

}  // namespace tapegrad
