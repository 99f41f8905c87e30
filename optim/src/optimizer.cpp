// The optimizer base: parameter checks, the step loop, and the state dict.
#include "tapegrad/optim/optimizer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>

#include "tapegrad/autograd/tape.h"
#include "show.h"
#include "tensor_hooks.h"
#include "tensor_impl.h"

namespace tapegrad::optim {

using detail::show_double;

namespace {
std::string describe(const Tensor& t) { return t.shape().str() + " " + std::string(dtype_name(t.dtype())); }
}  // namespace

Optimizer::Optimizer(const char* name, std::vector<Tensor> params, double lr, std::vector<std::string> buffer_names,
                     double buffer_init)
    : name_(name), params_(std::move(params)), lr_(lr), buffer_names_(std::move(buffer_names)) {
  if (params_.empty()) throw Error(std::string(name_) + ": got an empty parameter list");
  detail::register_step_writer(name_);
  check_option(lr >= 0.0, "learning rate", lr);
  std::unordered_set<const void*> seen;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined()) throw Error(std::string(name_) + ": parameter " + std::to_string(i) + " is undefined");
    if (!p.is_leaf())
      throw Error(std::string(name_) + ": parameter " + std::to_string(i) +
                  " is the output of a recorded op; only leaf tensors can be optimized (use detach())");
    if (!seen.insert(impl_of(p)).second)
      throw Error(std::string(name_) + ": parameter " + std::to_string(i) +
                  " appears twice in the parameter list; it would be updated twice per step");
  }
  buffers_.resize(params_.size());
  for (size_t i = 0; i < params_.size(); ++i)
    for (size_t b = 0; b < buffer_names_.size(); ++b)
      buffers_[i].push_back(full(params_[i].shape(), buffer_init, params_[i].dtype()));
  steps_.assign(params_.size(), 0);
}

void Optimizer::check_option(bool ok, const char* what, double value, const char* expected) const {
  // Every hyper-parameter is a finite number: an infinite one turns the first step's weights into
  // inf or NaN, far from the line that set it.
  if (!ok || !std::isfinite(value))
    throw Error(std::string(name_) + ": " + what + " must be " + (*expected ? std::string(expected) + " and " : "") +
                "finite, got " + show_double(value));
}

void Optimizer::set_lr(double lr) {
  check_option(lr >= 0.0, "learning rate", lr);
  lr_ = lr;
}

void Optimizer::step() {
  NoGradGuard no_grad;
  // The updates write through detail::ptr (no check per tensor): refused once here inside a
  // function being compiled, as each data() would refuse it.
  detail::check_write(name_);
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i];
    const Tensor& g = impl_of(p)->grad;
    if (!g.defined()) continue;
    Slot slot{p, g, buffers_[i], steps_[i] + 1};
    update(slot);
    ++steps_[i];
    // update() writes through the pointers in one fused loop; this marks the write, as an in-place
    // method would, so a graph that saved the old value refuses to use it.
    impl_of(p)->storage->bump_in_place(name_);
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (Tensor& p : params_) {
    if (set_to_none) impl_of(p)->grad = Tensor();  // the parameters are defined leaves (checked when kept)
    else p.zero_grad();
  }
}

NamedTensors Optimizer::state_dict() const {
  NamedTensors out;
  out.reserve(1 + params_.size() * (1 + buffer_names_.size()));
  out.emplace_back("lr", tensor(lr_, Dtype::f64));
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string prefix = std::to_string(i) + ".";
    out.emplace_back(prefix + "step", tensor(static_cast<double>(steps_[i]), Dtype::f64));
    for (size_t b = 0; b < buffer_names_.size(); ++b) out.emplace_back(prefix + buffer_names_[b], buffers_[i][b].clone());
  }
  return out;
}

void Optimizer::load_state_dict(const NamedTensors& state) {
  const std::string who = std::string(name_) + ".load_state_dict: ";
  // Where each expected entry is found in `state`; everything is checked before anything is written.
  const size_t per_param = 1 + buffer_names_.size();
  const size_t expected = 1 + params_.size() * per_param;
  std::vector<const Tensor*> found(expected, nullptr);
  std::vector<std::string> names(expected);
  names[0] = "lr";
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string prefix = std::to_string(i) + ".";
    names[1 + i * per_param] = prefix + "step";
    for (size_t b = 0; b < buffer_names_.size(); ++b) names[1 + i * per_param + 1 + b] = prefix + buffer_names_[b];
  }
  std::string layout = "\"lr\", and \"<i>.step\"";
  for (const auto& b : buffer_names_) layout += ", \"<i>." + b + "\"";
  layout += " for i in 0.." + std::to_string(params_.size() - 1);

  auto index_of = [&](const std::string& key) -> int64_t {
    if (key == "lr") return 0;
    size_t dot = key.find('.');
    if (dot == std::string::npos || dot == 0 || dot > 9) return -1;
    size_t i = 0;
    for (size_t k = 0; k < dot; ++k) {
      if (key[k] < '0' || key[k] > '9') return -1;
      i = i * 10 + static_cast<size_t>(key[k] - '0');
    }
    if (i >= params_.size() || std::to_string(i) != key.substr(0, dot)) return -1;
    const std::string rest = key.substr(dot + 1);
    if (rest == "step") return static_cast<int64_t>(1 + i * per_param);
    for (size_t b = 0; b < buffer_names_.size(); ++b)
      if (rest == buffer_names_[b]) return static_cast<int64_t>(1 + i * per_param + 1 + b);
    return -1;
  };

  for (const auto& [key, value] : state) {
    int64_t k = index_of(key);
    if (k < 0) throw Error(who + "unexpected entry \"" + key + "\"; expected " + layout);
    if (found[static_cast<size_t>(k)]) throw Error(who + "entry \"" + key + "\" appears more than once");
    if (!value.defined()) throw Error(who + "entry \"" + key + "\" is an undefined tensor");
    if (k == 0 || (static_cast<size_t>(k) - 1) % per_param == 0) {
      if (value.numel() != 1)
        throw Error(who + "entry \"" + key + "\" must hold one number, got shape " + value.shape().str());
      double v = value.item();
      if (k == 0 && !(v >= 0.0 && std::isfinite(v)))
        throw Error(who + "entry \"lr\" holds " + show_double(v) + ", expected >= 0 and finite");
      if (k != 0 && !(v >= 0.0 && v == std::floor(v) && v < 9.0e15))
        throw Error(who + "entry \"" + key + "\" holds " + show_double(v) + ", expected a step count (integer >= 0)");
    } else {
      const Tensor& p = params_[(static_cast<size_t>(k) - 1) / per_param];
      if (value.shape() != p.shape() || value.dtype() != p.dtype())
        throw Error(who + "entry \"" + key + "\" is " + describe(value) + " but the parameter is " + describe(p));
    }
    found[static_cast<size_t>(k)] = &value;
  }
  for (size_t k = 0; k < expected; ++k)
    if (!found[k]) throw Error(who + "missing entry \"" + names[k] + "\"; expected " + layout);

  lr_ = found[0]->item();
  for (size_t i = 0; i < params_.size(); ++i) {
    steps_[i] = static_cast<int64_t>(found[1 + i * per_param]->item());
    for (size_t b = 0; b < buffer_names_.size(); ++b) buffers_[i][b].copy_(*found[1 + i * per_param + 1 + b]);
  }
}

}  // namespace tapegrad::optim
