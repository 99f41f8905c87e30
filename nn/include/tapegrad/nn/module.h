#pragma once
/// \file module.h
/// The base class of layers: parameters with dotted names, train/eval mode, state dicts, printing.
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "tapegrad/core/shape.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad::nn {

class Module;

/// Submodules with their names, in a stable order ("0", "1", ... in a Sequential).
using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<Module>>>;

/// How one of a module's own tensors is laid out in PyTorch's state_dict, where it differs from
/// tapegrad's (io/torch.h reads and writes PyTorch's layout through it).
enum class TorchLayout {
  same,        ///< as the module holds it
  transposed,  ///< a 2-D tensor stored transposed (Linear's weight: [in, out] here, [out, in] in PyTorch)
  count,       ///< an integer counter held as a float (BatchNorm's num_batches_tracked: int64 in PyTorch)
};

/// A layer or a container of layers: a function of one tensor with trainable parameters.
/// Copying a module copies its parameter handles, so the copy shares their storage (as copying a
/// Tensor does); containers share their children.
class Module {
 public:
  virtual ~Module() = default;

  /// Computes the layer's output for input `x`, recording on the tape.
  virtual Tensor forward(const Tensor& x) = 0;
  /// Same as forward(x).
  Tensor operator()(const Tensor& x) { return forward(x); }

  /// The type's name, e.g. "Linear".
  virtual std::string name() const = 0;
  /// One-line description with the settings, e.g. "Linear(in=3, out=2, bias=true)"; containers
  /// print several lines.
  virtual std::string str() const { return name(); }
  /// The shape forward() returns for an input of shape `input` (-1 stands for "any batch size");
  /// throws tg::Error as forward would on a bad shape. Shape-preserving by default.
  virtual Shape output_shape(const Shape& input) const { return input; }
  /// An input shape this module accepts, if it fixes one (Linear: [-1, in]); empty otherwise.
  virtual Shape input_shape_hint() const { return {}; }

  /// This module's own parameters, not its children's, with names such as "weight".
  virtual NamedTensors own_parameters() const { return {}; }
  /// Direct submodules with their names.
  virtual NamedModules named_children() const { return {}; }
  /// This module's own buffers, not its children's: state that is not trained (BatchNorm's
  /// running statistics), saved by state_dict() but never given to optimizers.
  virtual NamedTensors own_buffers() const { return {}; }
  /// How the own parameter or buffer `name` is laid out in PyTorch's state_dict: a module whose
  /// layout differs from PyTorch's says so here, so that io/ needs no knowledge of module types.
  virtual TorchLayout torch_layout(const std::string& name) const {
    (void)name;
    return TorchLayout::same;
  }

  /// Every parameter of this module and its descendants, once each, in the order of named_parameters().
  std::vector<Tensor> parameters() const;
  /// Every parameter with a dotted name that gives its place: "weight", "0.weight", "2.bias".
  /// A tensor shared by several layers is listed once, under its first name.
  NamedTensors named_parameters() const;
  /// Every buffer of this module and its descendants, with dotted names ("1.running_mean").
  NamedTensors named_buffers() const;
  /// Total number of parameter elements.
  int64_t parameter_count() const;

  /// Sets training mode (on = true) or evaluation mode on this module and all descendants.
  void train(bool on = true);
  /// Sets evaluation mode (Dropout becomes the identity); same as train(false).
  void eval() { train(false); }
  /// True in training mode (the default).
  bool is_training() const { return training_; }
  /// Sets every parameter's accumulated gradient to zero.
  void zero_grad();

  /// A snapshot of every parameter, then every buffer: named_parameters() and named_buffers()
  /// with values cloned and cut from the tape, so later training does not change it.
  NamedTensors state_dict() const;
  /// Copies `state`'s values in place into the existing parameters and buffers (converting dtype
  /// if needed).
  /// Checks everything first and throws tg::Error, changing nothing, on a missing, extra,
  /// duplicated, undefined or mis-shaped entry; the message names the entry and both shapes.
  void load_state_dict(const NamedTensors& state);

 protected:
  /// For a layer whose forward differs between training and evaluation mode (Dropout,
  /// BatchNorm): while tg::compile records, makes the step refuse calls after the mode changed.
  void compile_depends_on_mode() const;

 private:
  bool training_ = true;
  // The mode as compiled steps watch it (shared with them), made on first need; a copy of the
  // module gets its own.
  struct WatchedMode {
    std::shared_ptr<bool> flag;
    WatchedMode() = default;
    WatchedMode(const WatchedMode&) {}
    WatchedMode& operator=(const WatchedMode&) { return *this; }
  };
  mutable WatchedMode watched_;
};

/// Prints Module::str().
std::ostream& operator<<(std::ostream& os, const Module& m);

}  // namespace tapegrad::nn
