#include "tapegrad/nn/module.h"

#include <map>
#include <set>

#include "tapegrad/autograd/compile.h"
#include "tapegrad/autograd/tape.h"
#include "tensor_impl.h"

namespace tapegrad::nn {

namespace {

// The parameters (or, with `buffers`, the buffers) of m and its descendants, with dotted names.
void collect(const Module& m, const std::string& prefix, bool buffers, NamedTensors& out) {
  for (auto& [name, t] : buffers ? m.own_buffers() : m.own_parameters()) out.emplace_back(prefix + name, t);
  for (auto& [name, child] : m.named_children()) collect(*child, prefix + name + ".", buffers, out);
}

// `all` with each tensor shared by several layers kept once, under its first name.
NamedTensors first_of_each(NamedTensors all) {
  NamedTensors out;
  std::set<const void*> seen;
  for (auto& entry : all)
    if (!entry.second.defined() || seen.insert(impl_of(entry.second)).second) out.push_back(std::move(entry));
  return out;
}

// "2.bias" under a Sequential reads "Sequential[2].bias", as the module prints it.
std::string place_of(const std::string& root, const std::string& dotted) {
  std::string out = root;
  size_t begin = 0;
  while (begin <= dotted.size()) {
    size_t end = dotted.find('.', begin);
    if (end == std::string::npos) end = dotted.size();
    const std::string part = dotted.substr(begin, end - begin);
    const bool index = !part.empty() && part.find_first_not_of("0123456789") == std::string::npos;
    out += index ? "[" + part + "]" : "." + part;
    begin = end + 1;
  }
  return out;
}

std::string shape_of(const Tensor& t) { return t.defined() ? t.shape().str() : "(undefined)"; }

}  // namespace

NamedTensors Module::named_parameters() const {
  NamedTensors all;
  collect(*this, "", false, all);
  NamedTensors out = first_of_each(std::move(all));
  // The parameters learn their place, so that an error about one (an optimizer's step() before
  // backward()) can name it.
  const std::string root = name();
  for (const auto& [dotted, t] : out)
    if (t.defined() && !impl_of(t)->storage->has_label()) impl_of(t)->storage->set_label(place_of(root, dotted));
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors all;
  collect(*this, "", true, all);
  return first_of_each(std::move(all));
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (auto& [name, t] : named_parameters())
    if (t.defined()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  if (watched_.flag) *watched_.flag = on;
  for (auto& [name, child] : named_children()) child->train(on);
}

void Module::compile_depends_on_mode() const {
  if (!is_compiling()) return;
  if (!watched_.flag) watched_.flag = std::make_shared<bool>(training_);
  tapegrad::compile_depends_on(watched_.flag, str());
}

void Module::zero_grad() {
  for (Tensor& t : parameters())
    if (t.defined()) t.zero_grad();
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  for (const NamedTensors& part : {named_parameters(), named_buffers()})
    for (auto& [name, t] : part) out.emplace_back(name, t.defined() ? t.detach().clone() : Tensor());
  return out;
}

void Module::load_state_dict(const NamedTensors& state) {
  const std::string who = "load_state_dict(" + name() + ")";
  std::map<std::string, const Tensor*> given;
  for (auto& [name, t] : state) {
    if (!given.emplace(name, &t).second) throw Error(who + ": entry '" + name + "' appears twice");
  }
  struct Target {
    std::string name;
    Tensor tensor;
    const char* kind;
  };
  std::vector<Target> targets;
  for (auto& [name, p] : named_parameters()) targets.push_back({name, p, "parameter"});
  for (auto& [name, b] : named_buffers()) targets.push_back({name, b, "buffer"});
  std::set<std::string> known;
  for (const Target& t : targets) {
    known.insert(t.name);
    auto it = given.find(t.name);
    if (it == given.end())
      throw Error(who + ": missing entry '" + t.name + "' (the " + t.kind + " has shape " + shape_of(t.tensor) + ")");
    const Tensor& src = *it->second;
    if (!src.defined()) throw Error(who + ": entry '" + t.name + "' is an undefined tensor");
    if (!t.tensor.defined())
      throw Error(who + ": " + t.kind + " '" + t.name + "' is undefined; cannot load into it");
    if (src.shape() != t.tensor.shape())
      throw Error(who + ": entry '" + t.name + "' has shape " + src.shape().str() + " but the " + t.kind +
                  " has shape " + t.tensor.shape().str());
  }
  for (auto& [name, t] : state) {
    if (!known.count(name))
      throw Error(who + ": unexpected entry '" + name + "' with shape " + shape_of(t) +
                  " (no parameter or buffer has that name)");
  }
  NoGradGuard no_grad;
  for (Target& t : targets) t.tensor.copy_(*given[t.name]);
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

}  // namespace tapegrad::nn
