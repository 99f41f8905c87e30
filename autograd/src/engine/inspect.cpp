// Inspection of the tape: the nodes a tensor depends on, and their Graphviz DOT text.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "tapegrad/autograd/grad.h"
#include "tapegrad/autograd/gradcheck.h"

#include "engine/node.h"

namespace tapegrad {

using detail::impl_of;

std::vector<NodeView> detail::TapeImpl::nodes_of(const Tensor& root) const {
  std::vector<NodeView> out;
  if (!root.defined() || impl_of(root)->node < 0 || impl_of(root)->tape != this) return out;
  std::vector<char> reached(used_, 0);
  reached[static_cast<size_t>(impl_of(root)->node)] = 1;
  for (size_t i = static_cast<size_t>(impl_of(root)->node) + 1; i-- > 0;) {
    if (!reached[i]) continue;
    const detail::Node& n = nodes_[i];
    for (size_t k = 0; k < n.inputs.size(); ++k)
      if (const Tensor& in = n.inputs[k]; impl_of(in)->node >= 0 && impl_of(in)->tape == this) reached[static_cast<size_t>(impl_of(in)->node)] = 1;
  }
  for (size_t i = 0; i <= static_cast<size_t>(impl_of(root)->node); ++i) {
    if (!reached[i] || nodes_[i].finished || !nodes_[i].output) continue;
    const detail::Node& n = nodes_[i];
    n.output->retain();
    out.push_back(NodeView{i, n.name(), n.inputs.vec(), adopt(n.output), n.op->bind(n.args), n.op->kinks(n.inputs, n.args)});
  }
  return out;
}

namespace {
// "min -1.2 max 3.4 mean 0.5", and the NaN count when there is one.
std::string summary(const Tensor& t) {
  const std::vector<double> v = t.detach().to(Dtype::f64).to_vector<double>();
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  int64_t nan = 0, n = 0;
  for (double x : v) {
    if (std::isnan(x)) {
      ++nan;
      continue;
    }
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    sum += x;
    ++n;
  }
  std::ostringstream os;
  os.precision(4);
  if (n > 0) os << "min " << lo << " max " << hi << " mean " << sum / static_cast<double>(n);
  if (nan > 0) os << (n > 0 ? ", " : "") << nan << " NaN";
  return os.str();
}

const NodeCheck* verdict(const GradcheckReport* r, const NodeView& v) {
  if (!r) return nullptr;
  for (const NodeCheck& c : r->nodes)
    if (c.position == v.position && c.op == v.op) return &c;
  return nullptr;
}
}  // namespace

std::string Tape::to_dot(const Tensor& root) const { return to_dot(root, DotOptions{}); }

std::string Tape::to_dot(const Tensor& root, const DotOptions& options) const {
  std::vector<NodeView> nodes = nodes_of(root);
  // The gradient of root with respect to every node's output and every leaf that needs one.
  std::vector<Tensor> targets, grads;
  if (options.grads && !nodes.empty()) {
    if (root.numel() != 1)
      throw Error("to_dot: gradient summaries need a one-element root, got shape " + root.shape().str());
    for (const NodeView& v : nodes) {
      targets.push_back(v.output);
      for (const Tensor& in : v.inputs)
        if (in.requires_grad() && impl_of(in)->node < 0) targets.push_back(in);
    }
    grads = grad(root, targets, {.retain_graph = true, .allow_unused = true});
  }
  auto grad_of = [&](const Tensor& t) -> std::string {
    for (size_t k = 0; k < targets.size(); ++k)
      if (targets[k].is_same(t)) return "\\ngrad " + summary(grads[k]);
    return "";
  };
  std::ostringstream os;
  os << "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  size_t leaves = 0;
  for (const NodeView& v : nodes) {
    const NodeCheck* c = verdict(options.check, v);
    os << "  n" << v.position << " [label=\"#" << v.position << " " << v.op << "\\n" << v.output.shape().str();
    if (options.values) os << "\\nvalue " << summary(v.output);
    if (options.grads) os << grad_of(v.output);
    if (c) os << "\\ngradcheck " << (!c->ok ? "FAILED" : c->inconclusive ? "inconclusive" : "ok");
    os << "\"";
    if (c && !c->ok) os << ", color=red, fontcolor=red, penwidth=2";
    else if (c && c->inconclusive) os << ", color=orange";
    os << "];\n";
    for (size_t k = 0; k < v.inputs.size(); ++k) {
      const Tensor& in = v.inputs[k];
      if (impl_of(in)->node >= 0 && impl_of(in)->tape == this) {
        os << "  n" << impl_of(in)->node << " -> n" << v.position << ";\n";
      } else {
        os << "  leaf" << leaves << " [shape=ellipse, label=\"" << (in.requires_grad() ? "param " : "input ")
           << in.shape().str();
        if (options.values) os << "\\nvalue " << summary(in);
        if (options.grads && in.requires_grad()) os << grad_of(in);
        os << "\"];\n  leaf" << leaves << " -> n" << v.position << ";\n";
        ++leaves;
      }
    }
  }
  os << "}\n";
  return os.str();
}

std::string to_dot(const Tensor& root) { return Tape::current().to_dot(root); }
std::string to_dot(const Tensor& root, const DotOptions& options) { return Tape::current().to_dot(root, options); }

}  // namespace tapegrad
