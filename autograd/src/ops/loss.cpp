// Losses. softmax_cross_entropy and binary_cross_entropy_with_logits are single fused nodes
// whose backwards are fused ops of their own (<loss>_backward); mse_loss is composed of recorded ops.
#include <cmath>

#include "ops/loops.h"

namespace tapegrad {

using namespace detail;

namespace detail {
void softmax_rows(const float* logits, float* probs, int64_t batch, int64_t classes);
void softmax_rows(const double* logits, double* probs, int64_t batch, int64_t classes);
}

namespace {
// Throws unless each of the batch's labels is an integral class index in [0, classes): at every
// forward, eager or compiled (the values change between a compiled step's calls).
template <class T>
void check_class_indices(const T* v, int64_t batch, int64_t classes) {
  for (int64_t b = 0; b < batch; ++b)
    if (!(v[b] >= 0 && v[b] < static_cast<T>(classes)) || v[b] != std::floor(v[b])) [[unlikely]]
      throw Error("softmax_cross_entropy: label " + std::to_string(v[b]) + " at position " + std::to_string(b) +
                  " is not a class index in [0, " + std::to_string(classes) + ")");
}

// Checks a label tensor against [batch, classes] logits: rank 1 of integral class indices,
// or rank 2 of target probabilities with the logits' shape.
void check_labels(const Tensor& logits, const Tensor& labels) {
  const int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  if (labels.dim() == 1) {
    if (labels.shape()[0] != batch)
      throw Error("softmax_cross_entropy: labels has " + std::to_string(labels.shape()[0]) +
                  " entries but logits has batch " + std::to_string(batch));
    dispatch(labels.dtype(), [&](auto tag) {
      using T = decltype(tag);
      check_class_indices(ptr<T>(labels), batch, classes);
    });
  } else if (labels.dim() == 2) {
    if (labels.shape() != logits.shape())
      throw Error("softmax_cross_entropy: target probabilities " + labels.shape().str() +
                  " do not match logits " + logits.shape().str());
  } else {
    throw Error("softmax_cross_entropy: labels must be class indices [batch] or probabilities [batch, classes], got " +
                labels.shape().str());
  }
}
}  // namespace

namespace detail {
Tensor softmax_backward(const Tensor& g, const Tensor& y, int64_t axis);
}

namespace {
// The class index at position b of the labels. Checked by the forward, and the node's own copy;
// checked again where the backward indexes with it.
template <class T>
int64_t class_at(const T* t, int64_t b, int64_t classes) {
  const int64_t k = static_cast<int64_t>(t[b]);
  if (!(t[b] >= 0 && k < classes))
    throw Error("softmax_cross_entropy: backward read label " + std::to_string(t[b]) + " at position " +
                std::to_string(b) + ", not a class index in [0, " + std::to_string(classes) + ")");
  return k;
}

// The loss, mean over the batch of -sum_k t_k log softmax(x)_k (t one-hot for class indices, whose
// values were checked): the forward's loop, which its kernel form runs too.
template <class T>
T sce_loss(const T* x, const T* t, int64_t batch, int64_t classes, bool indices) {
  T total = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const T* row = x + b * classes;
    // -log softmax(row)[k] = lse - (row[k] - m), relative to the maximum m throughout.
    T m;
    const T lse = log_sum_exp_rel<T>(classes, [&](int64_t k) { return row[k]; }, m);
    if (indices) {
      total += lse - (row[static_cast<int64_t>(t[b])] - m);
    } else {
      for (int64_t k = 0; k < classes; ++k) {
        const T tk = t[b * classes + k];
        if (tk != 0) total += tk * (lse - (row[k] - m));
      }
    }
  }
  return total / static_cast<T>(batch);
}

Tensor sce_value(const Tensor& logits, const Tensor& labels) {
  Tensor out = make_tensor(Shape{}, logits.dtype());
  dispatch(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ptr<T>(out)[0] = sce_loss(ptr<T>(logits), ptr<T>(labels), logits.shape()[0], logits.shape()[1], labels.dim() == 1);
  });
  return out;
}

// The logits' gradient (softmax(x) sum(t) - t) g / batch into gx: the backward op's loop, which
// its kernel form runs too.
template <class T>
void sce_gradient(const T* g, const T* x, const T* t, T* gx, int64_t batch, int64_t classes, bool indices) {
  softmax_rows(x, gx, batch, classes);
  const T scale = g[0] / static_cast<T>(batch);
  for (int64_t b = 0; b < batch; ++b) {
    T* row = gx + b * classes;
    if (indices) {
      row[class_at(t, b, classes)] -= T(1);
    } else {
      T total = 0;
      for (int64_t k = 0; k < classes; ++k) total += t[b * classes + k];
      for (int64_t k = 0; k < classes; ++k) row[k] = row[k] * total - t[b * classes + k];
    }
    for (int64_t k = 0; k < classes; ++k) row[k] *= scale;
  }
}

// Throws unless logits is a non-empty [batch, classes] matrix (a mean over an empty batch would
// be 0 / 0) and the labels fit it, in its dtype.
void check_loss_inputs(const char* op, const Tensor& logits, const Tensor& labels) {
  const Shape& shape = logits.shape();
  if (shape.size() != 2) throw Error(std::string(op) + ": logits must be [batch, classes], got " + shape.str());
  if (shape[0] == 0) throw Error(std::string(op) + ": the batch is empty " + shape.str());
  if (logits.dtype() != labels.dtype()) [[unlikely]]
    same_dtype(op, logits, labels);
  check_labels(logits, labels);
}

Tensor class_indices(Dtype d) { return from_vector(std::vector<double>{2, 0, 1}, Shape{3}, d); }
Tensor probabilities(Dtype d, Generator& g) { return softmax(samples::normal({3, 4}, d, g), 1); }
}  // namespace

// The labels of both ops below when they are data (class indices [batch], or probabilities
// [batch, classes] that do not require gradients): the node's own copy, in the logits' dtype.
// Undefined when the labels are target probabilities that require gradients: then they are the
// ops' last input.
struct Labels {
  Tensor labels;
};

namespace {
// The labels of a call: its last input, or its arguments' copy, converted to the logits' dtype
// for a replay at another dtype (per-node gradcheck promotes to float64).
inline const Tensor& labels_of(Inputs in, size_t variable, Labels& a, const Tensor& logits) {
  if (in.size() > variable) return in[variable];
  const TensorImpl* t = impl_of(a.labels);
  if (!t) [[unlikely]]
    throw Error("softmax_cross_entropy: no labels (neither an input nor an argument)");
  if (t->dtype != impl_of(logits)->dtype) [[unlikely]]
    a.labels = a.labels.to(logits.dtype());
  return a.labels;
}
}  // namespace

namespace {
// The kernel forms of both ops: the labels are input `variable` of the call, or the arguments'
// copy (Kernel::extra), in the logits' dtype (a call that converts them has no kernel form).
Kernel sce_plan(Inputs in, const Labels& a, Kernel::Run f32, Kernel::Run f64, size_t logits, size_t variable) {
  const TensorImpl& x = *impl_of(in[logits]);
  const TensorImpl* t = in.size() > variable ? impl_of(in[variable]) : impl_of(a.labels);
  Kernel k;
  if (!t || t->dtype != x.dtype || x.shape.size() != 2) return k;
  k.size[0] = x.shape[0];
  k.size[1] = x.shape[1];
  k.flag[0] = t->shape.size() == 1;
  if (in.size() <= variable) k.extra = t;
  k.run = x.dtype == Dtype::f32 ? f32 : x.dtype == Dtype::f64 ? f64 : nullptr;
  return k;
}
template <class T>
const T* kernel_labels(const Kernel& k, const void* const* in, size_t variable) {
  return static_cast<const T*>(k.extra ? k.extra->storage->data : in[variable]);
}
template <class T>
void sce_run(const Kernel& k, const void* const* in, void* out) {
  const T* t = kernel_labels<T>(k, in, 1);
  if (k.flag[0]) check_class_indices(t, k.size[0], k.size[1]);
  *static_cast<T*>(out) = sce_loss(static_cast<const T*>(in[0]), t, k.size[0], k.size[1], k.flag[0]);
}
template <class T>
void sce_backward_run(const Kernel& k, const void* const* in, void* out) {
  sce_gradient(static_cast<const T*>(in[0]), static_cast<const T*>(in[1]), kernel_labels<T>(k, in, 2),
               static_cast<T*>(out), k.size[0], k.size[1], k.flag[0]);
}
}  // namespace

// ---- softmax_cross_entropy_backward(g, logits[, targets]) = (softmax(logits) sum(t) - t) g / batch ----
// The logits' gradient of the loss for its upstream g, t the one-hot rows of class indices or the
// target probabilities (sum(t) = 1 for class indices). Linear in g, so its g-gradient is itself at
// g = 1; its logits-gradient goes through softmax's, with the upstream gg sum(t) g / batch; the
// targets' gradient is (sum(gg softmax) - gg) g / batch.
static const Op<Labels> kSoftmaxCrossEntropyBackward(
    {.name = "softmax_cross_entropy_backward",
     .forward =
         [](Inputs in, Labels& a) {
           const Tensor &grad = in[0], &logits = in[1];
           const Tensor& labels = labels_of(in, 2, a, logits);
           // The shapes only: the values of class indices are checked where they index (class_at),
           // not in a pass of their own on the plain backward's path.
           const char* op = "softmax_cross_entropy_backward";
           const TensorImpl &gi = *impl_of(grad), &xi = *impl_of(logits), &ti = *impl_of(labels);
           auto fail = [&](const std::string& what) {
             throw Error(std::string(op) + ": " + what + " (grad " + gi.shape.str() + ", logits " + xi.shape.str() +
                         ", labels " + ti.shape.str() + ")");
           };
           if (xi.shape.size() != 2 || xi.shape[0] == 0) fail("logits must be a non-empty [batch, classes]");
           if (!(ti.shape.size() == 1 && ti.shape[0] == xi.shape[0]) && ti.shape != xi.shape)
             fail("labels must be class indices [batch] or probabilities [batch, classes]");
           if (gi.shape.numel() != 1) fail("grad must be the loss's gradient, one element");
           if (xi.dtype != ti.dtype || xi.dtype != gi.dtype) [[unlikely]] {
             same_dtype(op, logits, labels);
             same_dtype(op, logits, grad);
           }
           Tensor gx = make_tensor(logits.shape(), logits.dtype());
           dispatch(logits.dtype(), [&](auto tag) {
             using T = decltype(tag);
             sce_gradient(ptr<T>(grad), ptr<T>(logits), ptr<T>(labels), ptr<T>(gx), xi.shape[0], xi.shape[1],
                          ti.shape.size() == 1);
           });
           return gx;
         },
     .backward =
         [](BackwardContext& c, const Labels& a) {
           const Tensor &g = c.input(0), &logits = c.input(1), &gg = c.grad();
           const bool variable = c.inputs() == 3;
           const Tensor& t = variable ? c.input(2) : a.labels;
           const double batch = static_cast<double>(logits.shape()[0]);
           if (c.needs_grad(0)) {
             const Tensor one = full(g.shape(), 1.0, g.dtype());
             const Tensor unit = variable ? kSoftmaxCrossEntropyBackward({one, logits, t}) : kSoftmaxCrossEntropyBackward({one, logits}, a);
             c.accumulate(0, sum(gg * unit));
           }
           if (!c.needs_grad(1) && !(variable && c.needs_grad(2))) return;
           const Tensor s = softmax(logits, 1);
           if (c.needs_grad(1)) {
             const Tensor u = t.dim() == 1 ? gg * (g / batch) : gg * sum(t, 1, true) * (g / batch);
             c.accumulate(1, softmax_backward(u, s, 1));
           }
           if (variable && c.needs_grad(2)) c.accumulate(2, (sum(gg * s, 1, true) - gg) * (g / batch));
         },
     .samples = {{.label = "class indices",
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{
                        {{samples::normal({}, d, g), samples::uniform({3, 4}, -3, 3, d, g), class_indices(d)}, "3x4"}};
                  },
                  .data_inputs = {2},
                  // The labels as the node's own copy, as softmax_cross_entropy's backward passes them.
                  .call = [](const std::vector<Tensor>& in) {
                    defined("softmax_cross_entropy_backward", in[2]);
                    return kSoftmaxCrossEntropyBackward({in[0], in[1]}, {in[2].detach().clone()});
                  }},
                 {.label = "probabilities that require gradients",
                  .inputs = [](Dtype d, Generator& g) {
                    Tensor logits = samples::uniform({3, 4}, -3, 3, d, g);
                    return std::vector<OpSample>{{{samples::normal({}, d, g), logits, probabilities(d, g)}, "3x4"}};
                  }}},
     .plan = [](Inputs in, const Labels& a, const Tensor&) {
       return sce_plan(in, a, &sce_backward_run<float>, &sce_backward_run<double>, 1, 2);
     }});

// ---- softmax_cross_entropy(logits[, targets]) ----
// Data labels are the node's arguments; target probabilities that require gradients (a
// distillation loss, a learned label distribution) are its second input, whose recorded version
// guards them against a change in place before backward(), and whose gradient is
// -log_softmax(logits) g / batch, as libtorch's.
static const Op<Labels> kSoftmaxCrossEntropy(
    {.name = "softmax_cross_entropy",
     .forward =
         [](Inputs in, Labels& a) {
           const Tensor& logits = in[0];
           const Tensor& labels = labels_of(in, 1, a, logits);
           // Checked here, not in the caller: a compiled step replays new labels.
           check_loss_inputs("softmax_cross_entropy", logits, labels);
           return sce_value(logits, labels);
         },
     .backward =
         [](BackwardContext& c, const Labels& a) {
           const Tensor& logits = c.input(0);
           if (c.inputs() == 1) {
             c.accumulate(0, kSoftmaxCrossEntropyBackward({c.grad(), logits}, a));
             return;
           }
           const Tensor& t = c.input(1);
           if (c.needs_grad(0)) c.accumulate(0, kSoftmaxCrossEntropyBackward({c.grad(), logits, t}));
           if (c.needs_grad(1))
             c.accumulate(1, log_softmax(logits, 1) * (c.grad() / -static_cast<double>(logits.shape()[0])));
         },
     .samples = {{.label = "class indices",
                  .inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{{{samples::uniform({3, 4}, -3, 3, d, g), class_indices(d)}, "3x4"}};
                  },
                  .data_inputs = {1},
                  .call = [](const std::vector<Tensor>& in) { return softmax_cross_entropy(in[0], in[1]); }},
                 {.label = "probabilities",
                  .inputs = [](Dtype d, Generator& g) {
                    Tensor logits = samples::uniform({3, 4}, -3, 3, d, g);
                    return std::vector<OpSample>{{{logits, probabilities(d, g)}, "3x4"}};
                  },
                  .data_inputs = {1},
                  .call = [](const std::vector<Tensor>& in) { return softmax_cross_entropy(in[0], in[1]); }},
                 {.label = "probabilities that require gradients",
                  .inputs = [](Dtype d, Generator& g) {
                    Tensor logits = samples::uniform({3, 4}, -3, 3, d, g);
                    return std::vector<OpSample>{{{logits, probabilities(d, g)}, "3x4"}};
                  }}},
     .plan = [](Inputs in, const Labels& a, const Tensor&) {
       return sce_plan(in, a, &sce_run<float>, &sce_run<double>, 0, 1);
     }});

namespace {
// What both overloads require of the logits before they build the labels.
void check_logits(const Tensor& logits) {
  defined("softmax_cross_entropy", logits);
  if (logits.dim() != 2)
    throw Error("softmax_cross_entropy: logits must be [batch, classes], got " + logits.shape().str());
  if (logits.shape()[0] == 0) throw Error("softmax_cross_entropy: the batch is empty " + logits.shape().str());
}
}  // namespace

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels) {
  check_logits(logits);
  defined("softmax_cross_entropy", labels);
  if (labels.dtype() == Dtype::i64 && labels.dim() != 1)  // probabilities are floats, as in PyTorch
    throw Error("softmax_cross_entropy: int64 labels must be rank 1 (one class index per row), got shape " +
                labels.shape().str());
  if (labels.dim() == 2 && labels.requires_grad()) {
    same_dtype("softmax_cross_entropy", logits, labels);
    return kSoftmaxCrossEntropy({logits, labels});
  }
  // The node keeps its own copy: the caller may change `labels` in place before backward(),
  // which would otherwise give the gradient of another loss, or index outside the gradient.
  Tensor lab = labels.dtype() == logits.dtype() ? labels.detach().clone() : labels.detach().to(logits.dtype());
  return kSoftmaxCrossEntropy({logits}, {std::move(lab)});
}

Tensor softmax_cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels) {
  check_logits(logits);
  if (static_cast<int64_t>(labels.size()) != logits.shape()[0])
    throw Error("softmax_cross_entropy: labels has " + std::to_string(labels.size()) +
                " entries but logits has batch " + std::to_string(logits.shape()[0]));
  Tensor lab = empty(Shape{static_cast<int64_t>(labels.size())}, logits.dtype());
  dispatch(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* p = ptr<T>(lab);
    for (size_t b = 0; b < labels.size(); ++b) {
      if (labels[b] < 0 || labels[b] >= logits.shape()[1])
        throw Error("softmax_cross_entropy: label " + std::to_string(labels[b]) + " at position " + std::to_string(b) +
                    " is not a class index in [0, " + std::to_string(logits.shape()[1]) + ")");
      p[b] = static_cast<T>(labels[b]);
    }
  });
  return kSoftmaxCrossEntropy({logits}, {std::move(lab)});
}

// ---- mse_loss: mean((y - t)^2), from recorded ops ----
Tensor mse_loss(const Tensor& y, const Tensor& target) {
  defined("mse_loss", y);
  defined("mse_loss", target);
  if (y.shape() != target.shape())
    throw Error("mse_loss: prediction " + y.shape().str() + " and target " + target.shape().str() +
                " differ in shape (broadcasting in a loss is almost always a bug; reshape one)");
  same_dtype("mse_loss", y, target);  // here, not in the sub it is built from: the error names the loss
  return mean(square(sub(y, target)));
}
static RegisterOp reg_mse({.name = "mse_loss",
                           .fn = [](auto& in) { return mse_loss(in[0], in[1]); },
                           .samples = [](Dtype d, Generator& g) {
                             return std::vector<OpSample>{
                                 {{samples::normal({3, 2}, d, g), samples::normal({3, 2}, d, g)}, "3x2"}};
                           }});

namespace {
// BCE's samples: logits, and targets in [0, 1].
std::vector<OpSample> bce_samples(Dtype d, Generator& g) {
  return {{{samples::uniform({3, 2}, -3, 3, d, g), samples::uniform({3, 2}, 0, 1, d, g)}, "3x2"}};
}
}  // namespace

// ---- binary_cross_entropy_with_logits_backward(x, t, g) = (sigmoid(x) - t) g / n ----
// The logits' gradient of the loss; linear in g (its g-gradient is itself at g = 1), its
// x-gradient is gg sigmoid'(x) g / n and its t-gradient -gg g / n.
static const Op<void> kBceBackward(
    {.name = "binary_cross_entropy_with_logits_backward",
     .forward =
         [](Inputs in) {
           const Tensor &x = in[0], &t = in[1], &grad = in[2];
           const char* op = "binary_cross_entropy_with_logits_backward";
           same_dtype(op, x, t);
           same_dtype(op, x, grad);
           if (x.shape() != t.shape())
             throw Error(std::string(op) + ": logits " + x.shape().str() + " and target " + t.shape().str() + " differ in shape");
           if (grad.numel() != 1) throw Error(std::string(op) + ": grad must be the loss's scalar gradient, got " + grad.shape().str());
           const double scale = grad.item() / static_cast<double>(x.numel());
           return zip(x, t, [scale](auto v, auto tv) {
             using T = decltype(v);
             // The branch that never exponentiates a large positive number.
             T s = v >= 0 ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));
             return (s - tv) * static_cast<T>(scale);
           });
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor &x = c.input(0), &t = c.input(1), &g = c.input(2), &gg = c.grad();
           const Tensor scale = g / static_cast<double>(x.numel());
           if (c.needs_grad(0)) {
             const Tensor s = sigmoid(x);
             c.accumulate(0, gg * s * (1.0 - s) * scale);
           }
           if (c.needs_grad(1)) c.accumulate(1, -(gg * scale));
           if (c.needs_grad(2)) {
             const Tensor one = full(g.shape(), 1.0, g.dtype());
             c.accumulate(2, sum(gg * kBceBackward({x, t, one})));
           }
         },
     .samples = {{.inputs = [](Dtype d, Generator& g) {
                    std::vector<OpSample> s = bce_samples(d, g);
                    for (OpSample& x : s) x.inputs.push_back(samples::normal({}, d, g));
                    return s;
                  }}}});

// ---- binary_cross_entropy_with_logits: mean(max(x,0) - x t + log1p(exp(-|x|))) ----
// dx = binary_cross_entropy_with_logits_backward(x, t, g), dt = -x g / n.
static const Op<void> kBce(
    {.name = "binary_cross_entropy_with_logits",
     .forward =
         [](Inputs in) {
           const Tensor& logits = in[0];
           const Tensor& target = in[1];
           same_dtype("binary_cross_entropy_with_logits", logits, target);
           if (logits.shape() != target.shape())
             throw Error("binary_cross_entropy_with_logits: logits " + logits.shape().str() + " and target " +
                         target.shape().str() + " differ in shape");
           if (logits.numel() == 0) throw Error("binary_cross_entropy_with_logits: the input " + logits.shape().str() + " is empty");
           Tensor out = make_tensor(Shape{}, logits.dtype());
           dispatch(logits.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* x = ptr<T>(logits);
             const T* t = ptr<T>(target);
             T total = 0;
             for (int64_t k = 0, n = logits.numel(); k < n; ++k)
               total += std::max(x[k], T(0)) - x[k] * t[k] + std::log1p(std::exp(-std::abs(x[k])));
             ptr<T>(out)[0] = total / static_cast<T>(logits.numel());
           });
           return out;
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor& x = c.input(0);
           const Tensor& t = c.input(1);
           if (c.needs_grad(0)) c.accumulate(0, kBceBackward({x, t, c.grad()}));
           if (c.needs_grad(1)) c.accumulate(1, x * (c.grad() / -static_cast<double>(x.numel())));
         },
     .samples = {{.inputs = bce_samples}}});
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target) { return kBce({logits, target}); }

Tensor one_hot(const Tensor& labels, int64_t classes, Dtype dtype) {
  return one_hot(indices_of("one_hot", labels), classes, dtype);
}

Tensor one_hot(const std::vector<int64_t>& labels, int64_t classes, Dtype dtype) {
  Tensor out = zeros(Shape{static_cast<int64_t>(labels.size()), classes}, dtype);
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = ptr<T>(out);
    for (size_t b = 0; b < labels.size(); ++b) {
      if (labels[b] < 0 || labels[b] >= classes)
        throw Error("one_hot: label " + std::to_string(labels[b]) + " at position " + std::to_string(b) +
                    " is not in [0, " + std::to_string(classes) + ")");
      p[static_cast<int64_t>(b) * classes + labels[b]] = T(1);
    }
  });
  return out;
}
// The input only carries the dtype (the registry's entries take tensors).
static RegisterOp reg_one_hot({.name = "one_hot",
                               .fn = [](auto& in) { return one_hot({1, 0}, 3, in[0].dtype()); },
                               .samples = [](Dtype d, Generator& g) {
                                 return std::vector<OpSample>{{{samples::normal({1}, d, g)}, "dtype carrier"}};
                               },
                               .differentiable = false});

}  // namespace tapegrad
