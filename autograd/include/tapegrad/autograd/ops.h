#pragma once
/// \file ops.h
/// The built-in differentiable ops. Each records one node on the tape when an input requires
/// gradients, and throws tg::Error naming the op and the shapes on bad input. Binary ops
/// broadcast as NumPy does; both operands must have the same dtype (convert with to()).
#include <cstdint>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad {

// ---- elementwise, binary (broadcasting) ----
/// a + b, broadcasting.
Tensor add(const Tensor& a, const Tensor& b);
/// a - b, broadcasting.
Tensor sub(const Tensor& a, const Tensor& b);
/// a * b elementwise, broadcasting.
Tensor mul(const Tensor& a, const Tensor& b);
/// a / b elementwise, broadcasting.
Tensor div(const Tensor& a, const Tensor& b);
/// a + s.
Tensor add_scalar(const Tensor& a, double s);
/// a * s.
Tensor mul_scalar(const Tensor& a, double s);
/// a / s, by true division (not a times 1/s, which is off by an ulp and overflows for a
/// subnormal s).
Tensor div_scalar(const Tensor& a, double s);
/// s / a.
Tensor rdiv_scalar(double s, const Tensor& a);

/// a + b, broadcasting.
Tensor operator+(const Tensor& a, const Tensor& b);
/// a - b, broadcasting.
Tensor operator-(const Tensor& a, const Tensor& b);
/// a * b elementwise, broadcasting.
Tensor operator*(const Tensor& a, const Tensor& b);
/// a / b elementwise, broadcasting.
Tensor operator/(const Tensor& a, const Tensor& b);
/// a + s.
Tensor operator+(const Tensor& a, double s);
/// s + a.
Tensor operator+(double s, const Tensor& a);
/// a - s.
Tensor operator-(const Tensor& a, double s);
/// s - a.
Tensor operator-(double s, const Tensor& a);
/// a * s.
Tensor operator*(const Tensor& a, double s);
/// s * a.
Tensor operator*(double s, const Tensor& a);
/// a / s.
Tensor operator/(const Tensor& a, double s);
/// s / a.
Tensor operator/(double s, const Tensor& a);
/// -a.
Tensor operator-(const Tensor& a);
/// -a.
Tensor neg(const Tensor& a);

// ---- elementwise, unary ----
/// e^x.
Tensor exp(const Tensor& x);
/// Natural log; log(0) = -inf and its gradient +inf, as in IEEE arithmetic.
Tensor log(const Tensor& x);
/// Square root; the gradient at 0 is +inf.
Tensor sqrt(const Tensor& x);
/// x^p for a scalar exponent; a negative base gives NaN unless p is an integer.
Tensor pow(const Tensor& x, double p);
/// x^2.
Tensor square(const Tensor& x);
/// |x|; the gradient at 0 is 0 (the subgradient PyTorch uses).
Tensor abs(const Tensor& x);
/// 1 / (1 + e^-x), computed without overflow for any x.
Tensor sigmoid(const Tensor& x);
/// log(sigmoid(x)), stable for large |x|.
Tensor log_sigmoid(const Tensor& x);
/// Hyperbolic tangent.
Tensor tanh(const Tensor& x);
/// max(x, 0); the gradient at 0 is 0.
Tensor relu(const Tensor& x);
/// x for x > 0, slope * x otherwise; the gradient at 0 is slope.
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
/// A converted copy (differentiable: the gradient is converted back).
Tensor to_dtype(const Tensor& x, Dtype dtype);

// ---- linear algebra and shape ----
/// Matrix product: 2-D x 2-D ([m,k] x [k,n] -> [m,n]), 1-D x 2-D ([k] x [k,n] -> [n]),
/// 2-D x 1-D ([m,k] x [k] -> [m]).
Tensor matmul(const Tensor& a, const Tensor& b);
/// Transpose of a 2-D tensor (a copy).
Tensor transpose(const Tensor& x);
/// The same elements with a new shape (same element count); one dimension may be -1.
Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape);
/// Sums `x` over the dimensions that broadcasting added or stretched, giving `shape`.
Tensor sum_to(const Tensor& x, const Shape& shape);
/// `x` broadcast to `shape` (a copy).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

// ---- reductions ----
/// Sum of all elements (rank 0).
Tensor sum(const Tensor& x);
/// Sum over `axis` (negative counts from the end), keeping it as size 1 if `keepdim`.
Tensor sum(const Tensor& x, int64_t axis, bool keepdim = false);
/// Mean of all elements (rank 0).
Tensor mean(const Tensor& x);
/// Mean over `axis`, keeping it as size 1 if `keepdim`.
Tensor mean(const Tensor& x, int64_t axis, bool keepdim = false);
/// Largest value over `axis`; with ties the gradient goes to the first maximal element.
Tensor max(const Tensor& x, int64_t axis, bool keepdim = false);

// ---- softmax family and losses ----
/// exp(x) / sum(exp(x)) over `axis`, with the maximum subtracted first (no overflow).
Tensor softmax(const Tensor& x, int64_t axis);
/// x - logsumexp(x) over `axis`, stable for logits of any magnitude.
Tensor log_softmax(const Tensor& x, int64_t axis);
/// Mean cross-entropy of softmax(logits) ([batch, classes]) against class indices, as one fused
/// node whose backward is (softmax(logits) - onehot(labels)) / batch.
Tensor softmax_cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels);
/// Same, with `labels` a tensor: rank 1 holds class indices (integral values), rank 2
/// ([batch, classes]) holds target probabilities.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels);
/// Mean of (y - target)^2 over all elements.
Tensor mse_loss(const Tensor& y, const Tensor& target);
/// Mean of -[t log sigmoid(x) + (1-t) log(1 - sigmoid(x))], computed stably from logits.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target);

// ---- not differentiable ----
/// Index of the largest value over `axis` (first one on ties), as a tensor of x's dtype.
Tensor argmax(const Tensor& x, int64_t axis);
/// 1 where a > b, else 0 (broadcasting); not recorded.
Tensor greater(const Tensor& a, const Tensor& b);
/// 1 where a < b, else 0 (broadcasting); not recorded.
Tensor less(const Tensor& a, const Tensor& b);
/// 1 where a == b, else 0 (broadcasting); not recorded.
Tensor equal(const Tensor& a, const Tensor& b);
/// 1 where a > s, else 0; not recorded.
Tensor greater(const Tensor& a, double s);
/// 1 where a < s, else 0; not recorded.
Tensor less(const Tensor& a, double s);
/// Rows of one-hot vectors: [labels.size(), classes].
Tensor one_hot(const std::vector<int64_t>& labels, int64_t classes, Dtype dtype = Dtype::f32);

}  // namespace tapegrad
