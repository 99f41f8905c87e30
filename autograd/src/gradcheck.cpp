#include "tapegrad/autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <sstream>

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

bool skipped(const GradcheckOptions& o, size_t i) {
  return std::find(o.skip_inputs.begin(), o.skip_inputs.end(), i) != o.skip_inputs.end();
}

// The whole-function comparison, on float64 copies of the inputs. Leaves `out` recorded so the
// caller can go on to check its nodes.
std::vector<InputCheck> compare(const TensorFn& fn, std::vector<Tensor>& in, const GradcheckOptions& o,
                                std::string& method, Tensor& out) {
  for (size_t i = 0; i < in.size(); ++i) in[i].requires_grad(!skipped(o, i));
  out = fn(in);
  if (!out.defined()) throw Error("gradcheck: the function returned an undefined tensor");
  const Shape out_shape = out.shape();
  std::vector<Tensor> dirs = directions(out_shape, o, method);

  // analytical[d][i] = J_i^T v_d, by backward with upstream v_d.
  std::vector<std::vector<Tensor>> analytical(dirs.size());
  for (size_t d = 0; d < dirs.size(); ++d) {
    for (Tensor& x : in) x.set_grad(Tensor());
    if (out.requires_grad()) out.backward(dirs[d].to(out.dtype()), {.retain_graph = true});
    for (Tensor& x : in) analytical[d].push_back(x.has_grad() ? x.grad().to(Dtype::f64) : zeros(x.shape(), Dtype::f64));
  }

  std::vector<InputCheck> checks;
  NoGradGuard no_grad;
  for (size_t i = 0; i < in.size(); ++i) {
    InputCheck c;
    c.input = i;
    if (skipped(o, i)) {
      checks.push_back(c);
      continue;
    }
    double worst_excess = -1;
    Tensor x = in[i];
    double* p = x.data<double>();
    for (int64_t j = 0, n = x.numel(); j < n; ++j) {
      const double saved = p[j];
      p[j] = saved + o.eps;
      Tensor fp = fn(in).to(Dtype::f64).clone();  // the output may alias the perturbed input
      p[j] = saved - o.eps;
      Tensor fm = fn(in).to(Dtype::f64).clone();
      p[j] = saved;
      for (size_t d = 0; d < dirs.size(); ++d) {
        const double num = (dot(fp, dirs[d]) - dot(fm, dirs[d])) / (2 * o.eps);
        const double ana = analytical[d][i].data<double>()[j];
        const double err = std::abs(ana - num);
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
        }
      }
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

NodeCheck check_node(const NodeView& v, const GradcheckOptions& o, bool& promoted) {
  NodeCheck nc;
  nc.position = v.position;
  nc.op = v.op;
  std::vector<Tensor> in = promote(v.inputs, promoted);
  for (const Tensor& t : in) nc.input_shapes.push_back(t.shape());
  GradcheckOptions inner = o;
  inner.check_nodes = false;
  inner.skip_inputs.clear();  // the caller's skip list names the function's inputs, not this node's
  std::string method;
  Tensor out;
  nc.inputs = compare(v.replay, in, inner, method, out);
  for (const InputCheck& c : nc.inputs) nc.ok = nc.ok && c.ok;
  return nc;
}

void add_node_checks(GradcheckReport& r, const Tensor& root, const GradcheckOptions& o) {
  // The views hold what they need (replays own copies of the arguments): checking records new
  // nodes, which may move the tape's own.
  std::vector<NodeView> views = Tape::current().nodes_of(root);
  for (size_t k = 0; k < views.size(); ++k) {
    r.nodes.push_back(check_node(views[k], o, r.promoted));
    if (!r.nodes.back().ok) r.ok = false;
  }
}

}  // namespace

GradcheckReport gradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  GradcheckReport r;
  std::vector<Tensor> in = promote(inputs, r.promoted);
  Tensor out;
  r.inputs = compare(fn, in, options, r.method, out);
  for (const InputCheck& c : r.inputs) r.ok = r.ok && c.ok;
  if (options.check_nodes) add_node_checks(r, out, options);
  return r;
}

GradcheckReport gradcheck_nodes(const Tensor& root, const GradcheckOptions& options) {
  if (!root.defined() || root.is_leaf())
    throw Error("gradcheck_nodes: the tensor has no recorded nodes (is it a leaf, or was its graph released?)");
  GradcheckReport r;
  r.method = "per node";
  add_node_checks(r, root, options);
  return r;
}

std::vector<Tensor> numerical_grad(const TensorFn& fn, const std::vector<Tensor>& inputs, double eps) {
  bool promoted = false;
  std::vector<Tensor> in = promote(inputs, promoted);
  std::vector<Tensor> grads;
  NoGradGuard no_grad;
  for (Tensor& x : in) {
    Tensor g = zeros(x.shape(), Dtype::f64);
    double* p = x.data<double>();
    for (int64_t j = 0, n = x.numel(); j < n; ++j) {
      const double saved = p[j];
      p[j] = saved + eps;
      Tensor fp = fn(in);
      p[j] = saved - eps;
      Tensor fm = fn(in);
      p[j] = saved;
      if (fp.numel() != 1)
        throw Error("numerical_grad: the function must return one element, got shape " + fp.shape().str());
      g.data<double>()[j] = (fp.item() - fm.item()) / (2 * eps);
    }
    grads.push_back(g);
  }
  return grads;
}

const NodeCheck* GradcheckReport::first_bad_node() const {
  for (const NodeCheck& n : nodes)
    if (!n.ok) return &n;
  return nullptr;
}

namespace {
void input_line(std::ostringstream& os, const InputCheck& c, const std::string& indent) {
  os << indent << "input " << c.input << ": " << (c.ok ? "ok  " : "FAIL") << " max abs error " << c.max_abs_error
     << ", max rel error " << c.max_rel_error;
  if (!c.worst_index.empty() || c.direction >= 0)
    os << "; worst at " << index_str(c.worst_index) << ": analytical " << c.analytical << ", numerical "
       << c.numerical;
  os << "\n";
}
}  // namespace

std::string GradcheckReport::str() const {
  std::ostringstream os;
  os.precision(6);
  os << "gradcheck: " << (ok ? "PASSED" : "FAILED") << " (" << method << ", float64"
     << (promoted ? ", float32 inputs promoted" : "") << ")\n";
  for (const InputCheck& c : inputs) input_line(os, c, "  ");
  for (const NodeCheck& n : nodes) {
    os << "  node " << n.position << " " << n.op << " (";
    for (size_t k = 0; k < n.input_shapes.size(); ++k) os << (k ? ", " : "") << n.input_shapes[k].str();
    os << "): " << (n.ok ? "ok" : "FAIL") << "\n";
    if (!n.ok)
      for (const InputCheck& c : n.inputs) input_line(os, c, "    ");
  }
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const GradcheckReport& r) { return os << r.str(); }

}  // namespace tapegrad
