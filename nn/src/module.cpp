#include "tapegrad/nn/module.h"

#include <map>
#include <set>

#include "tapegrad/autograd/tape.h"
#include "tensor_impl.h"

namespace tapegrad::nn {

namespace {

void collect(const Module& m, const std::string& prefix, NamedTensors& out) {
  for (auto& [name, t] : m.own_parameters()) out.emplace_back(prefix + name, t);
  for (auto& [name, child] : m.named_children()) collect(*child, prefix + name + ".", out);
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
  NamedTensors all, out;
  collect(*this, "", all);
  std::set<const void*> seen;
  for (auto& entry : all)
    if (!entry.second.defined() || seen.insert(impl_of(entry.second)).second) out.push_back(std::move(entry));
  // The parameters learn their place, so that an error about one (an optimizer's step() before
  // backward()) can name it.
  const std::string root = name();
  for (const auto& [dotted, t] : out)
    if (t.defined() && !impl_of(t)->storage->has_label()) impl_of(t)->storage->set_label(place_of(root, dotted));
  return out;
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
  for (auto& [name, child] : named_children()) child->train(on);
}

void Module::zero_grad() {
  for (Tensor& t : parameters())
    if (t.defined()) t.zero_grad();
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  for (auto& [name, t] : named_parameters()) out.emplace_back(name, t.defined() ? t.detach().clone() : Tensor());
  return out;
}

void Module::load_state_dict(const NamedTensors& state) {
  const std::string who = "load_state_dict(" + name() + ")";
  std::map<std::string, const Tensor*> given;
  for (auto& [name, t] : state) {
    if (!given.emplace(name, &t).second) throw Error(who + ": entry '" + name + "' appears twice");
  }
  NamedTensors params = named_parameters();
  std::map<std::string, bool> known;
  for (auto& [name, p] : params) {
    known[name] = true;
    auto it = given.find(name);
    if (it == given.end())
      throw Error(who + ": missing entry '" + name + "' (the parameter has shape " + shape_of(p) + ")");
    const Tensor& src = *it->second;
    if (!src.defined()) throw Error(who + ": entry '" + name + "' is an undefined tensor");
    if (!p.defined()) throw Error(who + ": parameter '" + name + "' is undefined; cannot load into it");
    if (src.shape() != p.shape())
      throw Error(who + ": entry '" + name + "' has shape " + src.shape().str() + " but the parameter has shape " +
                  p.shape().str());
  }
  for (auto& [name, t] : state) {
    if (!known.count(name))
      throw Error(who + ": unexpected entry '" + name + "' with shape " + shape_of(t) +
                  " (no parameter has that name)");
  }
  NoGradGuard no_grad;
  for (auto& [name, p] : params) p.copy_(*given[name]);
}

std::ostream& operator<<(std::ostream& os, const Module& m) { return os << m.str(); }

}  // namespace tapegrad::nn
