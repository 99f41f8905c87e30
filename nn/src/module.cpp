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

std::string shape_of(const Tensor& t) { return t.defined() ? t.shape().str() : "(undefined)"; }

}  // namespace

NamedTensors Module::named_parameters() const {
  NamedTensors all, out;
  collect(*this, "", all);
  std::set<const void*> seen;
  for (auto& entry : all)
    if (!entry.second.defined() || seen.insert(impl_of(entry.second)).second) out.push_back(std::move(entry));
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
