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
/// max(x, 0); the gradient at 0 is 0, and at NaN it passes the upstream (PyTorch's rule).
Tensor relu(const Tensor& x);
/// x for x > 0, slope * x otherwise; the gradient at 0 is slope.
Tensor leaky_relu(const Tensor& x, double slope = 0.01);
/// log(1 + e^x), computed as max(x, 0) + log1p(e^-|x|): it never overflows. Its gradient is sigmoid(x).
Tensor softplus(const Tensor& x);
/// x * sigmoid(x) (SiLU, also called swish).
Tensor silu(const Tensor& x);
/// x * Phi(x), Phi the standard normal CDF, in the exact erf form (PyTorch's default GELU).
Tensor gelu(const Tensor& x);
/// x for x > 0, alpha (e^x - 1) otherwise, with expm1 (exact near 0); the gradient at 0 is alpha.
Tensor elu(const Tensor& x, double alpha = 1.0);

/// Sine.
Tensor sin(const Tensor& x);
/// Cosine.
Tensor cos(const Tensor& x);
/// Tangent; its gradient is 1 + tan(x)^2.
Tensor tan(const Tensor& x);
/// Arcsine; NaN outside [-1, 1], and the gradient is infinite at -1 and 1.
Tensor asin(const Tensor& x);
/// Arccosine; NaN outside [-1, 1], and the gradient is infinite at -1 and 1.
Tensor acos(const Tensor& x);
/// Arctangent.
Tensor atan(const Tensor& x);
/// Hyperbolic sine.
Tensor sinh(const Tensor& x);
/// Hyperbolic cosine.
Tensor cosh(const Tensor& x);
/// log(1 + x), exact for x near 0 (where log(1 + x) loses the digits of x).
Tensor log1p(const Tensor& x);
/// e^x - 1, exact for x near 0.
Tensor expm1(const Tensor& x);
/// Base-2 logarithm.
Tensor log2(const Tensor& x);
/// 1 / sqrt(x); infinite at 0.
Tensor rsqrt(const Tensor& x);
/// 1 / x; infinite at 0.
Tensor reciprocal(const Tensor& x);
/// -1, 0 or 1 by the sign of x (NaN for NaN); the gradient is 0 everywhere.
Tensor sign(const Tensor& x);
/// x^y elementwise with a tensor exponent, broadcasting. The gradient with respect to y is
/// x^y log(x): NaN for a negative base, and 0 at x = 0 where x^y is 0.
Tensor pow(const Tensor& x, const Tensor& y);

/// `a` where `mask` is nonzero, `b` elsewhere, broadcasting all three (the mask is a tensor of
/// the same dtype, as greater() and less() return; it gets no gradient).
Tensor where(const Tensor& mask, const Tensor& a, const Tensor& b);
/// x limited to [lo, hi] (NaN stays NaN); the gradient passes where lo <= x <= hi, 0 elsewhere,
/// NaN included (as PyTorch). Throws tg::Error unless lo <= hi.
Tensor clamp(const Tensor& x, double lo, double hi);
/// The larger of a and b elementwise, broadcasting; NaN if either is NaN. At a tie each gets half
/// the gradient; where either is NaN, each gets all of it (PyTorch's rule: only a loser gets 0).
Tensor maximum(const Tensor& a, const Tensor& b);
/// The smaller of a and b elementwise, broadcasting; NaN if either is NaN. At a tie each gets half
/// the gradient; where either is NaN, each gets all of it (PyTorch's rule: only a loser gets 0).
Tensor minimum(const Tensor& a, const Tensor& b);

/// A converted copy, a copy also to x's own dtype (differentiable: the gradient is converted back).
/// Tensor::to shares x instead when the dtype is already `dtype`.
Tensor to_dtype(const Tensor& x, Dtype dtype);

// ---- linear algebra and shape ----
/// Matrix product: 2-D x 2-D ([m,k] x [k,n] -> [m,n]), 1-D x 2-D ([k] x [k,n] -> [n]),
/// 2-D x 1-D ([m,k] x [k] -> [m]); with rank >= 3 on either side, a batch of products whose
/// leading dimensions broadcast, as torch.matmul ([2,1,m,k] x [3,k,n] -> [2,3,m,n]; a 1-D operand
/// is a row or a column, and its dimension is dropped from the result).
Tensor matmul(const Tensor& a, const Tensor& b);
/// Transpose of a 2-D tensor (a copy).
Tensor transpose(const Tensor& x);
/// The same elements with a new shape (same element count); one dimension may be -1.
Tensor reshape(const Tensor& x, const std::vector<int64_t>& shape);
/// `x` with a size-1 axis inserted at `axis` (from -(rank + 1) to rank): a view sharing the storage.
Tensor unsqueeze(const Tensor& x, int64_t axis);
/// `x` without `axis`, which must have size 1: a view.
Tensor squeeze(const Tensor& x, int64_t axis);
/// `x` without any of its size-1 axes: a view.
Tensor squeeze(const Tensor& x);
/// Axes `start` to `end` (inclusive; negative count from the end) merged into one: a view.
/// flatten(x) is the 1-D view of all elements.
Tensor flatten(const Tensor& x, int64_t start = 0, int64_t end = -1);
/// The axes reordered: the result's axis d is x's axis perm[d] (a copy).
Tensor permute(const Tensor& x, const std::vector<int64_t>& perm);
/// Axes `a` and `b` swapped, for any rank (a copy).
Tensor transpose(const Tensor& x, int64_t a, int64_t b);
/// `x` broadcast to `shape`, where -1 keeps x's size (a copy, as broadcast_to, also to x's own shape).
Tensor expand(const Tensor& x, const std::vector<int64_t>& shape);

/// x[..., begin:end:step, ...] along `axis`, as Python slices it: negative begin and end count
/// from the end, both are clamped to the axis, and step must be >= 1 (a copy).
Tensor slice(const Tensor& x, int64_t axis, int64_t begin, int64_t end, int64_t step = 1);
/// x[..., index, ...] along `axis`, which is dropped; a negative index counts from the end. Throws
/// tg::Error naming the index and the axis's size when it is out of range (a copy).
Tensor select(const Tensor& x, int64_t axis, int64_t index);
/// The positions `indices` along `axis`, in that order; repeats allowed, and their gradients add
/// up (a copy).
Tensor index_select(const Tensor& x, int64_t axis, const std::vector<int64_t>& indices);
/// The same with `indices` a rank-1 int64 tensor (as torch.index_select).
Tensor index_select(const Tensor& x, int64_t axis, const Tensor& indices);
/// For a 2-D x, one element per lane: along axis 1, x[i, indices[i]] for each row i (how a loss
/// picks each row's class); along axis 0, x[indices[j], j] for each column j. Returns a 1-D tensor.
Tensor gather(const Tensor& x, int64_t axis, const std::vector<int64_t>& indices);
/// The same with `indices` a rank-1 int64 tensor.
Tensor gather(const Tensor& x, int64_t axis, const Tensor& indices);
/// The tensors joined along an existing `axis`; all other dimensions must match (a copy).
Tensor cat(const std::vector<Tensor>& tensors, int64_t axis);
/// The tensors, all of one shape, joined along a new `axis` (a copy).
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis);

/// Sums `x` over the dimensions that broadcasting added or stretched, giving `shape` (`x` itself
/// when its shape is already `shape`).
Tensor sum_to(const Tensor& x, const Shape& shape);
/// `x` broadcast to `shape` (a copy, also to x's own shape).
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
/// Sum over several axes (negative count from the end; each at most once), keeping them as size 1
/// if `keepdim`. An empty list sums nothing and returns `x`.
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim = false);
/// Mean over several axes, as sum over axes divided by the number of elements reduced.
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim = false);
/// Smallest value over `axis`; with ties the gradient goes to the first minimal element, and a lane
/// holding NaN gives NaN, its gradient going to the first NaN (as PyTorch's min along a dim).
Tensor min(const Tensor& x, int64_t axis, bool keepdim = false);
/// Smallest value of all elements (rank 0), as PyTorch's x.min(): tied minima share the gradient
/// equally, and with NaNs the result is NaN and the NaNs share it.
Tensor min(const Tensor& x);
/// Smallest value over several axes (as sum over axes: negative count from the end, each at most
/// once; an empty list reduces nothing), keeping them as size 1 if `keepdim`; the gradient is
/// shared as in min(x), within each group reduced (PyTorch's amin, but a NaN result's gradient goes
/// to the NaNs, where amin's is NaN).
Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim = false);
/// Product over `axis`. Exact with zeros: each factor's gradient is the product of the others,
/// never the product divided by the factor.
Tensor prod(const Tensor& x, int64_t axis, bool keepdim = false);
/// Running sum along `axis`: out[j] = x[0] + ... + x[j] (accumulated in float64).
Tensor cumsum(const Tensor& x, int64_t axis);
/// log(sum(exp(x))) over `axis`, computed relative to the maximum (no overflow, and exact digits
/// for one dominant term); its gradient is softmax(x).
Tensor logsumexp(const Tensor& x, int64_t axis, bool keepdim = false);
/// Variance over `axis`: the sum of squared deviations from the mean divided by n - correction
/// (1, Bessel's correction, by default; 0 for the population variance). Throws tg::Error unless
/// n - correction > 0.
Tensor var(const Tensor& x, int64_t axis, bool keepdim = false, int64_t correction = 1);
/// Standard deviation, sqrt(var(x, axis, keepdim, correction)), as one node: its gradient is 0
/// over a lane whose values are all equal (where sqrt's slope is infinite), as PyTorch's.
Tensor std(const Tensor& x, int64_t axis, bool keepdim = false, int64_t correction = 1);
/// The 2-norm of all elements (rank 0), without overflow or underflow in the squares; its
/// gradient is x / norm, and 0 where the norm is 0 (the subgradient PyTorch uses). It has no second
/// derivative at 0: one taken there is NaN, as libtorch's (for the Hessian of |x|^2, differentiate
/// sum(square(x)) instead; docs/higher-order.md).
Tensor norm(const Tensor& x);
/// Largest value over `axis`; with ties the gradient goes to the first maximal element, and a lane
/// holding NaN gives NaN, its gradient going to the first NaN (as PyTorch's max along a dim).
Tensor max(const Tensor& x, int64_t axis, bool keepdim = false);
/// Largest value of all elements (rank 0), as PyTorch's x.max(): tied maxima share the gradient
/// equally, and with NaNs the result is NaN and the NaNs share it.
Tensor max(const Tensor& x);
/// Largest value over several axes (as sum over axes: negative count from the end, each at most
/// once; an empty list reduces nothing), keeping them as size 1 if `keepdim`; the gradient is
/// shared as in max(x), within each group reduced (PyTorch's amax, but a NaN result's gradient goes
/// to the NaNs, where amax's is NaN).
Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim = false);

// ---- recurrent ----
/// One LSTM step as one op: `gates` [N, 4H] (x W_ih^T + b_ih + h W_hh^T + b_hh, PyTorch's order
/// i, f, g, o) and the cell state `c` [N, H] give [h', c'] side by side, [N, 2H]:
/// c' = sigmoid(f) * c + sigmoid(i) * tanh(g), h' = sigmoid(o) * tanh(c'). nn::LSTM runs on it.
Tensor lstm_cell(const Tensor& gates, const Tensor& c);
/// lstm_cell's gradient: for the upstream `grad` [N, 2H] (of h' and c'), [d gates, d c] side by
/// side, [N, 5H]. Differentiable again (its own backward is written with the ops).
Tensor lstm_cell_backward(const Tensor& grad, const Tensor& gates, const Tensor& c);

// ---- softmax family and losses ----
/// exp(x) / sum(exp(x)) over `axis`, with the maximum subtracted first (no overflow).
Tensor softmax(const Tensor& x, int64_t axis);
/// x - logsumexp(x) over `axis`, stable for logits of any magnitude.
Tensor log_softmax(const Tensor& x, int64_t axis);
/// Mean cross-entropy of softmax(logits) ([batch, classes]) against class indices, as one fused
/// node whose backward is (softmax(logits) - onehot(labels)) / batch.
Tensor softmax_cross_entropy(const Tensor& logits, const std::vector<int64_t>& labels);
/// Same, with `labels` a tensor: rank 1 holds class indices (int64, or integral float values), rank 2
/// ([batch, classes]) holds target probabilities; targets that require gradients get
/// -log_softmax(logits) / batch times the upstream, as in PyTorch.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& labels);
/// Mean of (y - target)^2 over all elements.
Tensor mse_loss(const Tensor& y, const Tensor& target);
/// Mean of -[t log sigmoid(x) + (1-t) log(1 - sigmoid(x))], computed stably from logits.
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target);

// ---- convolutions, pooling and normalisation, on NCHW images ----
/// Settings of conv2d, the same on both spatial axes (PyTorch's int form).
struct Conv2dOptions {
  int64_t stride = 1;    ///< step between output positions
  int64_t padding = 0;   ///< zeros added on each side of H and W
  int64_t dilation = 1;  ///< spacing between kernel taps
};
/// 2-D cross-correlation, as torch.nn.functional.conv2d: x [N, C, H, W], weight [O, C, kh, kw],
/// bias [O] (or undefined for none) give [N, O, OH, OW] with OH = (H + 2 padding - dilation (kh - 1)
/// - 1) / stride + 1. One node; its backward computes the input gradient as a transposed
/// convolution and the weight gradient as a correlation of the input with the output gradient.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Conv2dOptions options = {});
/// conv2d without a bias.
Tensor conv2d(const Tensor& x, const Tensor& weight, Conv2dOptions options = {});
/// Settings of max_pool2d and avg_pool2d, the same on both spatial axes.
struct Pool2dOptions {
  int64_t kernel = 2;   ///< window size
  int64_t stride = 0;   ///< step between windows; 0 means `kernel` (PyTorch's default)
  int64_t padding = 0;  ///< implicit padding on each side (at most kernel / 2)
};
/// Largest value of each window of x [N, C, H, W] (padding never wins). On ties the whole
/// gradient goes to the first maximal element in row-major window order; in a window with NaNs,
/// to the last NaN; both as PyTorch's CPU kernel.
Tensor max_pool2d(const Tensor& x, Pool2dOptions options);
/// Mean of each window of x [N, C, H, W]; padded positions count as zeros in the mean
/// (PyTorch's count_include_pad = true).
Tensor avg_pool2d(const Tensor& x, Pool2dOptions options);
/// Settings of batch_norm.
struct BatchNormOptions {
  bool training = true;   ///< normalise with the batch's statistics (and update the running ones)
  double momentum = 0.1;  ///< running = (1 - momentum) running + momentum batch statistic
  double eps = 1e-5;      ///< added to the variance before the square root
};
/// Batch normalisation over every axis but axis 1 (the channels) of x [N, C] or [N, C, H, W]:
/// y = (x - mean) / sqrt(var + eps) * weight + bias, weight and bias [C] (either may be undefined
/// for 1 and 0). In training mode mean and var are the batch's (var biased), and running_mean and
/// running_var ([C], updated in place, unrecorded; the variance unbiased, as PyTorch) move towards
/// them by `momentum` unless undefined; in eval mode the running statistics are used.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, BatchNormOptions options = {});

// ---- not differentiable ----
/// Index of the largest value over `axis` (first one on ties, the first NaN if any, as PyTorch), as
/// a tensor of x's dtype.
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
/// The same with `labels` a rank-1 int64 tensor.
Tensor one_hot(const Tensor& labels, int64_t classes, Dtype dtype = Dtype::f32);

}  // namespace tapegrad
