#pragma once
/// \file sequential.h
/// A chain of modules applied in order.
#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// The argument types Sequential's list constructor accepts: a Module subclass by value, or a
/// shared_ptr to one.
template <class M>
concept ModuleArg = std::derived_from<std::decay_t<M>, Module> || std::convertible_to<M, std::shared_ptr<Module>>;

/// Applies its modules in order: `Sequential net{Linear(784, 50), ReLU(), Linear(50, 10)};`.
/// Modules are taken by value (stored as shared_ptr copies, sharing parameter storage with the
/// argument) or as shared_ptr (stored as given). Parameters are named "<index>.<name>", e.g.
/// "0.weight". Copying a Sequential shares its modules.
class Sequential : public Module {
 public:
  /// An empty chain (the identity); grow it with push_back.
  Sequential() = default;
  /// A chain of the given modules, in order; each is a Module subclass by value or a shared_ptr
  /// to one. (A single Sequential argument copies it; nest one with push_back.)
  template <class... Ms>
    requires(sizeof...(Ms) > 0 && (ModuleArg<Ms> && ...) &&
             !(sizeof...(Ms) == 1 && (std::same_as<std::decay_t<Ms>, Sequential> && ...)))
  Sequential(Ms&&... modules) {  // NOLINT: implicit so that braced lists work
    (push_back(std::forward<Ms>(modules)), ...);
  }

  /// Appends a copy of `m` (any Module subclass; the copy shares its parameter storage), in this
  /// chain's train/eval mode; returns this chain.
  template <class M>
    requires std::derived_from<std::decay_t<M>, Module>
  Sequential& push_back(M&& m) {
    return push_back(std::shared_ptr<Module>(std::make_shared<std::decay_t<M>>(std::forward<M>(m))));
  }
  /// Appends `m` itself (shared) and puts it in this chain's train/eval mode; throws tg::Error if
  /// it is null.
  Sequential& push_back(std::shared_ptr<Module> m);

  /// The modules' composition; an error from module i is rethrown with its index prefixed.
  Tensor forward(const Tensor& x) override;
  /// "Sequential".
  std::string name() const override { return "Sequential"; }
  /// One line per module with its input and output shapes (the batch shown as N) and its
  /// parameter count, then the total. Shapes start from input_shape_hint(); "?" until a module
  /// fixes its input (a Linear after Conv2d and Flatten), and from there on they are shown.
  std::string str() const override;
  /// The same table for a given input shape (-1 for any batch size; empty: unknown). A module
  /// whose output_shape fails shows the error, and the shapes after it are "?" until a module
  /// fixes its input again.
  std::string summary(const Shape& input) const;
  /// The chain's output shape for `input`.
  Shape output_shape(const Shape& input) const override;
  /// The first module's input_shape_hint that every module before it passes through unchanged
  /// (so the whole chain accepts it); empty when there is none (a chain that starts with Conv2d).
  Shape input_shape_hint() const override;
  /// "0", "1", ... with the modules.
  NamedModules named_children() const override;

  /// Module `i`; throws tg::Error when i >= size().
  Module& operator[](size_t i) const;
  /// Module `i` as type M (e.g. get<Linear>(0).weight()); throws tg::Error on a wrong index or type.
  template <class M>
  M& get(size_t i) const {
    M* m = dynamic_cast<M*>(&(*this)[i]);
    if (!m) throw Error("Sequential::get: module " + std::to_string(i) + " is " + (*this)[i].name() + ", not the requested type");
    return *m;
  }
  /// Number of modules.
  size_t size() const { return modules_.size(); }
  /// True when there are no modules.
  bool empty() const { return modules_.empty(); }

 private:
  std::vector<std::shared_ptr<Module>> modules_;
};

}  // namespace tapegrad::nn
