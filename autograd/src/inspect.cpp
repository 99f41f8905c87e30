// Inspection of the tape: the nodes a tensor depends on, and their Graphviz DOT text.
#include <sstream>

#include "node.h"

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

std::string Tape::to_dot(const Tensor& root) const {
  std::ostringstream os;
  os << "digraph tape {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n";
  std::vector<NodeView> nodes = nodes_of(root);
  size_t leaves = 0;
  for (const NodeView& v : nodes) {
    os << "  n" << v.position << " [label=\"#" << v.position << " " << v.op << "\\n" << v.output.shape().str()
       << "\"];\n";
    for (size_t k = 0; k < v.inputs.size(); ++k) {
      const Tensor& in = v.inputs[k];
      if (impl_of(in)->node >= 0 && impl_of(in)->tape == this) {
        os << "  n" << impl_of(in)->node << " -> n" << v.position << ";\n";
      } else {
        os << "  leaf" << leaves << " [shape=ellipse, label=\"" << (in.requires_grad() ? "param " : "input ")
           << in.shape().str() << "\"];\n  leaf" << leaves << " -> n" << v.position << ";\n";
        ++leaves;
      }
    }
  }
  os << "}\n";
  return os.str();
}

std::string to_dot(const Tensor& root) { return Tape::current().to_dot(root); }

}  // namespace tapegrad
