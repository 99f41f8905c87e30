// Losses. softmax_cross_entropy and binary_cross_entropy_with_logits are single fused nodes
// with the closed-form gradients; mse_loss is composed of recorded ops.
#include <cmath>

#include "kernels.h"

namespace tapegrad {

using namespace detail;

namespace detail {
void softmax_rows(const Tensor& logits, Tensor& probs);
}

namespace {
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
      const T* v = ptr<T>(labels);
      for (int64_t b = 0; b < batch; ++b)
        if (!(v[b] >= 0 && v[b] < static_cast<T>(classes)) || v[b] != std::floor(v[b]))
          throw Error("softmax_cross_entropy: label " + std::to_string(v[b]) + " at position " + std::to_string(b) +
                      " is not a class index in [0, " + std::to_string(classes) + ")");
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

// ---- softmax_cross_entropy: dlogits = (softmax(logits) * sum(t) - t) / batch ----
// The labels, checked and in the logits' dtype: class indices [batch] or probabilities [batch, classes].
struct Labels {
  Tensor labels;
};

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

// The kernel of the backward below in recorded ops (for create_graph), the same formula with the
// labels as data: class indices become their one-hot rows, whose sums are 1.
Tensor softmax_cross_entropy_grad(const Tensor& logits, const Tensor& labels, const Tensor& g) {
  const int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  Tensor t = labels;
  if (labels.dim() == 1) {
    t = zeros(logits.shape(), logits.dtype());
    dispatch(logits.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const T* v = ptr<T>(labels);
      T* p = ptr<T>(t);
      for (int64_t b = 0; b < batch; ++b) p[b * classes + class_at(v, b, classes)] = T(1);
    });
  }
  const Tensor total = sum(t, 1, true);
  return (softmax(logits, 1) * total - t) * (g / static_cast<double>(batch));
}
}  // namespace

namespace {
// The loss, mean over the batch of -sum_k t_k log softmax(logits)_k (t one-hot for class indices).
Tensor sce_value(const Tensor& logits, const Tensor& labels) {
  check_labels(logits, labels);  // here, not in the caller: a compiled step replays new labels
  const int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  Tensor out = make_tensor(Shape{}, logits.dtype());
  dispatch(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = ptr<T>(logits);
    const T* t = ptr<T>(labels);
    T total = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const T* row = x + b * classes;
      // -log softmax(row)[k] = lse - (row[k] - m), relative to the maximum m throughout.
      T m;
      const T lse = log_sum_exp_rel<T>(classes, [&](int64_t k) { return row[k]; }, m);
      if (labels.dim() == 1) {
        total += lse - (row[static_cast<int64_t>(t[b])] - m);
      } else {
        for (int64_t k = 0; k < classes; ++k) {
          const T tk = t[b * classes + k];
          if (tk != 0) total += tk * (lse - (row[k] - m));
        }
      }
    }
    ptr<T>(out)[0] = total / static_cast<T>(batch);
  });
  return out;
}

// The logits' gradient, (softmax(logits) * sum(t) - t) * g / batch, as one kernel.
Tensor sce_logits_grad(const Tensor& logits, const Tensor& labels, const Tensor& grad) {
  const int64_t batch = logits.shape()[0], classes = logits.shape()[1];
  Tensor gx = make_tensor(logits.shape(), logits.dtype());
  softmax_rows(logits, gx);
  dispatch(logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T scale = ptr<T>(grad)[0] / static_cast<T>(batch);
    T* q = ptr<T>(gx);
    const T* t = ptr<T>(labels);
    for (int64_t b = 0; b < batch; ++b) {
      T* row = q + b * classes;
      if (labels.dim() == 1) {
        row[class_at(t, b, classes)] -= T(1);
      } else {
        T total = 0;
        for (int64_t k = 0; k < classes; ++k) total += t[b * classes + k];
        for (int64_t k = 0; k < classes; ++k) row[k] = row[k] * total - t[b * classes + k];
      }
      for (int64_t k = 0; k < classes; ++k) row[k] *= scale;
    }
  });
  return gx;
}
}  // namespace

static const Op<Labels> kSoftmaxCrossEntropy(
    {.name = "softmax_cross_entropy",
     .forward =
         [](Inputs in, Labels& a) {
           const Tensor& logits = in[0];
           // A replay may run at other dtypes (per-node gradcheck promotes to float64).
           if (a.labels.dtype() != logits.dtype()) a.labels = a.labels.to(logits.dtype());
           return sce_value(logits, a.labels);
         },
     .backward =
         [](BackwardContext& c, const Labels& a) {
           if (c.create_graph()) c.accumulate(0, softmax_cross_entropy_grad(c.input(0), a.labels, c.grad()));
           else c.accumulate(0, sce_logits_grad(c.input(0), a.labels, c.grad()));
         },
     .samples = {}});

// ---- softmax_cross_entropy against target probabilities that require gradients: the targets are
// an input of the node, and their gradient is -log_softmax(logits) / batch (as libtorch's) ----
static const Op<void> kSoftmaxCrossEntropyTargets(
    {.name = "softmax_cross_entropy",
     .forward =
         [](Inputs in) {
           same_dtype("softmax_cross_entropy", in[0], in[1]);
           return sce_value(in[0], in[1]);
         },
     .backward =
         [](BackwardContext& c) {
           const Tensor &logits = c.input(0), &t = c.input(1);
           const int64_t batch = logits.shape()[0], classes = logits.shape()[1];
           if (c.create_graph()) {
             if (c.needs_grad(0)) c.accumulate(0, softmax_cross_entropy_grad(logits, t, c.grad()));
             if (c.needs_grad(1)) c.accumulate(1, log_softmax(logits, 1) * (c.grad() / -static_cast<double>(batch)));
             return;
           }
           if (c.needs_grad(0)) c.accumulate(0, sce_logits_grad(logits, t, c.grad()));
           if (!c.needs_grad(1)) return;
           Tensor gt = make_tensor(t.shape(), t.dtype(), "softmax_cross_entropy backward");
           dispatch(logits.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T scale = ptr<T>(c.grad())[0] / static_cast<T>(batch);
             const T* x = ptr<T>(logits);
             T* q = ptr<T>(gt);
             for (int64_t b = 0; b < batch; ++b) {
               const T* row = x + b * classes;
               T m;
               const T lse = log_sum_exp_rel<T>(classes, [&](int64_t k) { return row[k]; }, m);
               for (int64_t k = 0; k < classes; ++k) q[b * classes + k] = (lse - (row[k] - m)) * scale;
             }
           });
           c.accumulate(1, std::move(gt));
         },
     .samples = {}});

namespace {
// What both overloads require of the logits, checked the same way (a mean over an empty batch
// would be 0 / 0).
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
  // Target probabilities that require gradients are an input of the node, whose recorded version
  // guards them against a change in place before backward(), as for any input.
  if (labels.dim() == 2 && labels.requires_grad()) return kSoftmaxCrossEntropyTargets({logits, labels});
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

// The registry calls the public overloads, which check the labels before the fused node.
static RegisterOp reg_sce_indices({"softmax_cross_entropy", "class indices",
                                   [](auto& in) { return softmax_cross_entropy(in[0], std::vector<int64_t>{2, 0, 1}); },
                                   [](Dtype d, Generator& g) {
                                     return std::vector<OpSample>{{{samples::uniform({3, 4}, -3, 3, d, g)}, "3x4"}};
                                   }});
static RegisterOp reg_sce_probs({"softmax_cross_entropy", "probabilities",
                                 [](auto& in) { return softmax_cross_entropy(in[0], in[1]); },
                                 [](Dtype d, Generator& g) {
                                   Tensor t = softmax(samples::normal({3, 4}, d, g), 1);
                                   return std::vector<OpSample>{{{samples::uniform({3, 4}, -3, 3, d, g), t}, "3x4"}};
                                 },
                                 true,
                                 {1}});
// The same with the targets a variable (a distillation loss, or a learned label distribution).
static RegisterOp reg_sce_targets({"softmax_cross_entropy", "probabilities that require gradients",
                                   [](auto& in) { return softmax_cross_entropy(in[0], in[1]); },
                                   [](Dtype d, Generator& g) {
                                     Tensor t = softmax(samples::normal({3, 4}, d, g), 1);
                                     return std::vector<OpSample>{{{samples::uniform({3, 4}, -3, 3, d, g), t}, "3x4"}};
                                   }});

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
static RegisterOp reg_mse({"mse_loss", "", [](auto& in) { return mse_loss(in[0], in[1]); },
                           [](Dtype d, Generator& g) {
                             return std::vector<OpSample>{
                                 {{samples::normal({3, 2}, d, g), samples::normal({3, 2}, d, g)}, "3x2"}};
                           }});

// ---- binary_cross_entropy_with_logits: mean(max(x,0) - x t + log1p(exp(-|x|))) ----
// dx = (sigmoid(x) - t) / n, dt = -x / n.
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
           if (c.create_graph()) {  // the kernels below in recorded ops, so that it is differentiable again
             const Tensor scale = c.grad() / static_cast<double>(x.numel());
             if (c.needs_grad(0)) c.accumulate(0, (sigmoid(x) - t) * scale);
             if (c.needs_grad(1)) c.accumulate(1, -x * scale);
             return;
           }
           const double scale = c.grad().item() / static_cast<double>(x.numel());
           if (c.needs_grad(0))
             c.accumulate(0, zip(x, t, [scale](auto v, auto tv) {
                            using T = decltype(v);
                            T s = v >= 0 ? T(1) / (T(1) + std::exp(-v)) : std::exp(v) / (T(1) + std::exp(v));
                            return (s - tv) * static_cast<T>(scale);
                          }));
           if (c.needs_grad(1)) c.accumulate(1, mul_scalar(x, -scale));
         },
     .samples = {{.inputs = [](Dtype d, Generator& g) {
                    return std::vector<OpSample>{
                        {{samples::uniform({3, 2}, -3, 3, d, g), samples::uniform({3, 2}, 0, 1, d, g)}, "3x2"}};
                  }}}});
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target) { return kBce({logits, target}); }

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
static RegisterOp reg_one_hot({"one_hot", "", [](auto& in) { return one_hot({1, 0}, 3, in[0].dtype()); },
                               [](Dtype d, Generator& g) {
                                 return std::vector<OpSample>{{{samples::normal({1}, d, g)}, "dtype carrier"}};
                               },
                               false});

}  // namespace tapegrad
