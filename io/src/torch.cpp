// Models in PyTorch's state_dict layout. The names are the dotted ones of Module::state_dict()
// (a Sequential's children "0", "1", ..., as torch.nn.Sequential); the one layout that differs is
// Linear's weight, which tapegrad holds as [in, out] (Y = X W) and PyTorch as [out, in].
#include "tapegrad/io/torch.h"

#include <cmath>
#include <map>
#include <set>
#include <vector>

#include "safetensors_entries.h"
#include "tapegrad/autograd/ops.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/core/error.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::io {

namespace {

// How a tensor of the module is laid out in the file: the module says (Module::torch_layout).
using Layout = nn::TorchLayout;

// A parameter or buffer of the module under its state_dict name.
struct TorchTensor {
  std::string name;
  Tensor tensor;  // the module's own handle: loading writes through it
  Layout layout;

  Shape file_shape() const {
    if (layout != Layout::transposed) return tensor.shape();
    return {tensor.shape()[1], tensor.shape()[0]};
  }
};

std::string shape_of(const Tensor& t) { return t.defined() ? t.shape().str() : "(undefined)"; }

// Every parameter and buffer of `m` and its descendants in the order of PyTorch's state_dict():
// a module's parameters, then its buffers, then its children's, depth first.
void walk(const nn::Module& m, const std::string& prefix, std::vector<TorchTensor>& out) {
  for (auto& [name, t] : m.own_parameters()) {
    Layout layout = m.torch_layout(name);
    if (layout == Layout::transposed && !(t.defined() && t.dim() == 2)) layout = Layout::same;
    out.push_back({prefix + name, t, layout});
  }
  for (auto& [name, t] : m.own_buffers()) out.push_back({prefix + name, t, m.torch_layout(name)});
  for (auto& [name, child] : m.named_children()) walk(*child, prefix + name + ".", out);
}

std::vector<TorchTensor> torch_tensors(const nn::Module& m) {
  std::vector<TorchTensor> out;
  walk(m, "", out);
  return out;
}

}  // namespace

void save_torch_state_dict(const nn::Module& module, const std::string& path) {
  const std::vector<TorchTensor> tensors = torch_tensors(module);
  // The bytes the entries point at: transposed copies and integer counts, kept until written.
  std::vector<Tensor> transposed;
  std::vector<std::vector<int64_t>> counts;
  transposed.reserve(tensors.size());
  counts.reserve(tensors.size());
  std::vector<detail::EntryBytes> entries;
  NoGradGuard no_grad;
  for (const TorchTensor& t : tensors) {
    if (!t.tensor.defined() || t.layout == Layout::same) {
      entries.push_back(detail::entry_of(t.name, t.tensor));  // an undefined one is reported by the writer
    } else if (t.layout == Layout::transposed) {
      transposed.push_back(transpose(t.tensor.detach()));
      entries.push_back(detail::entry_of(t.name, transposed.back()));
    } else {
      std::vector<int64_t>& c = counts.emplace_back();
      for (double v : t.tensor.to_vector<double>()) c.push_back(std::llround(v));
      entries.push_back({t.name, "I64", t.tensor.shape().vec(), c.data(), c.size() * sizeof(int64_t)});
    }
  }
  detail::save_safetensors_entries(path, entries, {{"format", "pt"}}, "save_torch_state_dict");
}

void load_torch_state_dict(nn::Module& module, const std::string& path) {
  const std::string who = "load_torch_state_dict(" + path + ")";
  const std::vector<detail::LoadedEntry> file = detail::load_safetensors_entries(path);
  std::map<std::string, const detail::LoadedEntry*> in_file;
  for (const detail::LoadedEntry& e : file) in_file.emplace(e.name, &e);  // the reader rejects repeated names
  std::vector<TorchTensor> targets = torch_tensors(module);
  std::set<std::string> known;
  for (const TorchTensor& t : targets) {
    known.insert(t.name);
    if (!t.tensor.defined())
      throw Error(who + ": the module's tensor '" + t.name + "' is undefined; cannot load into it");
    const Shape want = t.file_shape();
    const auto it = in_file.find(t.name);
    if (it == in_file.end())
      throw Error(who + ": missing tensor '" + t.name + "' (the module's has shape " + want.str() + ")");
    const detail::LoadedEntry& e = *it->second;
    if (e.value.shape() != want) {
      const std::string layout = t.layout == Layout::transposed
                                     ? " (a Linear's weight, [out, in] as in PyTorch; tapegrad holds it as " +
                                           t.tensor.shape().str() + ")"
                                     : "";
      throw Error(who + ": tensor '" + t.name + "' has shape " + e.value.shape().str() +
                  " in the file but the module's has shape " + want.str() + layout);
    }
    if (e.dtype == "I64" && t.layout != Layout::count)
      throw Error(who + ": tensor '" + t.name + "' with shape " + e.value.shape().str() +
                  " is I64 in the file, but the module's (shape " + want.str() + ") is " +
                  std::string(dtype_name(t.tensor.dtype())) + "; only num_batches_tracked may be an integer");
  }
  for (const detail::LoadedEntry& e : file)
    if (!known.count(e.name))
      throw Error(who + ": unexpected tensor '" + e.name + "' with shape " + shape_of(e.value) +
                  " (the module has no parameter or buffer of that name)");
  NoGradGuard no_grad;
  for (TorchTensor& t : targets) {
    // A bfloat16 file (a model PyTorch trained or saved in bfloat16) fills float tensors: widened
    // first, exactly, since transpose computes in float32 and float64 only.
    const Tensor& stored = in_file.at(t.name)->value;
    const Tensor v = stored.dtype() == Dtype::bf16 ? stored.to(t.tensor.dtype()) : stored;
    t.tensor.copy_(t.layout == Layout::transposed ? transpose(v) : v);
  }
}

}  // namespace tapegrad::io
