// The differential suite: random graphs built around every registered op run in tapegrad and in
// libtorch, in float64, and must agree on the loss and on every leaf's gradient, normwise, to
// 1e-10. Built only when libtorch-dev is installed (tests/torch/CMakeLists.txt).
//
// Each graph is: the op on its registry sample (which brings the broadcasting cases), then one to
// three random steps on the result (tanh, sigmoid, a scale, the square, or adding or multiplying
// a new leaf whose shape broadcasts against it), then a random projection to a scalar, plus a
// second use of one of the op's inputs, so that a leaf's gradient arrives by two paths.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>
#include <vector>

namespace tg = tapegrad;
using TorchFn = std::function<torch::Tensor(const std::vector<torch::Tensor>&)>;

namespace {

// libtorch's spelling of each registry entry, keyed "name|variant". The constants are the ones
// the entry bakes in (its variant names them).
const std::map<std::string, TorchFn>& torch_ops() {
  using V = std::vector<torch::Tensor>;
  static const std::map<std::string, TorchFn> ops{
      {"add|", [](const V& x) { return x[0] + x[1]; }},
      {"sub|", [](const V& x) { return x[0] - x[1]; }},
      {"mul|", [](const V& x) { return x[0] * x[1]; }},
      {"div|", [](const V& x) { return x[0] / x[1]; }},
      {"add_scalar|s=0.7", [](const V& x) { return x[0] + 0.7; }},
      {"mul_scalar|s=-1.5", [](const V& x) { return x[0] * -1.5; }},
      {"div_scalar|s=-0.8", [](const V& x) { return x[0] / -0.8; }},
      {"rdiv_scalar|s=2", [](const V& x) { return torch::full_like(x[0], 2.0) / x[0]; }},
      {"neg|", [](const V& x) { return -x[0]; }},
      {"exp|", [](const V& x) { return torch::exp(x[0]); }},
      {"log|positive", [](const V& x) { return torch::log(x[0]); }},
      {"sqrt|positive", [](const V& x) { return torch::sqrt(x[0]); }},
      {"pow|p=3 (any sign)", [](const V& x) { return torch::pow(x[0], 3); }},
      {"pow|p=-1.5 (positive base)", [](const V& x) { return torch::pow(x[0], -1.5); }},
      {"square|", [](const V& x) { return torch::square(x[0]); }},
      {"abs|away from 0", [](const V& x) { return torch::abs(x[0]); }},
      {"sigmoid|", [](const V& x) { return torch::sigmoid(x[0]); }},
      {"lstm_cell|", [](const V& x) {
         const std::vector<torch::Tensor> g = x[0].chunk(4, 1);
         const torch::Tensor c2 = torch::sigmoid(g[1]) * x[1] + torch::sigmoid(g[0]) * torch::tanh(g[2]);
         return torch::cat({torch::sigmoid(g[3]) * torch::tanh(c2), c2}, 1);
       }},
      {"log_sigmoid|", [](const V& x) { return torch::log_sigmoid(x[0]); }},
      {"tanh|", [](const V& x) { return torch::tanh(x[0]); }},
      {"relu|away from 0", [](const V& x) { return torch::relu(x[0]); }},
      {"leaky_relu|slope=0.1", [](const V& x) { return torch::leaky_relu(x[0], 0.1); }},
      {"softplus|", [](const V& x) { return torch::softplus(x[0]); }},
      {"silu|", [](const V& x) { return torch::silu(x[0]); }},
      {"gelu|", [](const V& x) { return torch::gelu(x[0]); }},
      {"elu|alpha=1", [](const V& x) { return torch::elu(x[0], 1.0); }},
      {"elu|alpha=0.5", [](const V& x) { return torch::elu(x[0], 0.5); }},
      {"sin|", [](const V& x) { return torch::sin(x[0]); }},
      {"cos|", [](const V& x) { return torch::cos(x[0]); }},
      {"tan||x| < 1.2", [](const V& x) { return torch::tan(x[0]); }},
      {"asin||x| < 0.9", [](const V& x) { return torch::asin(x[0]); }},
      {"acos||x| < 0.9", [](const V& x) { return torch::acos(x[0]); }},
      {"atan|", [](const V& x) { return torch::atan(x[0]); }},
      {"sinh|", [](const V& x) { return torch::sinh(x[0]); }},
      {"cosh|", [](const V& x) { return torch::cosh(x[0]); }},
      {"log1p|x > -0.8", [](const V& x) { return torch::log1p(x[0]); }},
      {"expm1|", [](const V& x) { return torch::expm1(x[0]); }},
      {"log2|positive", [](const V& x) { return torch::log2(x[0]); }},
      {"rsqrt|positive", [](const V& x) { return torch::rsqrt(x[0]); }},
      {"reciprocal|away from 0", [](const V& x) { return torch::reciprocal(x[0]); }},
      {"sign|away from 0", [](const V& x) { return torch::sign(x[0]); }},
      {"pow|tensor exponent, positive base", [](const V& x) { return torch::pow(x[0], x[1]); }},
      {"where|mask of 0 and 1", [](const V& x) { return torch::where(x[0].ne(0), x[1], x[2]); }},
      {"clamp|lo=-1, hi=1", [](const V& x) { return torch::clamp(x[0], -1.0, 1.0); }},
      {"maximum|no ties", [](const V& x) { return torch::maximum(x[0], x[1]); }},
      {"minimum|no ties", [](const V& x) { return torch::minimum(x[0], x[1]); }},
      {"clone|", [](const V& x) { return x[0].clone(); }},
      {"to_dtype|round trip", [](const V& x) { return x[0].to(torch::kFloat32).to(torch::kFloat64); }},
      {"greater|", [](const V& x) { return torch::gt(x[0], x[1]).to(torch::kFloat64); }},
      {"less|", [](const V& x) { return torch::lt(x[0], x[1]).to(torch::kFloat64); }},
      {"equal|", [](const V& x) { return torch::eq(x[0], x[1]).to(torch::kFloat64); }},
      {"matmul|", [](const V& x) { return torch::matmul(x[0], x[1]); }},
      {"matmul|batched", [](const V& x) { return torch::matmul(x[0], x[1]); }},
      // matmul's backward pieces, products with transpose flags (the last two dimensions).
      {"gemm|A B", [](const V& x) { return torch::matmul(x[0], x[1]); }},
      {"gemm|A B^T", [](const V& x) { return torch::matmul(x[0], x[1].transpose(-2, -1)); }},
      {"gemm|A^T B", [](const V& x) { return torch::matmul(x[0].transpose(-2, -1), x[1]); }},
      {"gemm|A^T B^T", [](const V& x) { return torch::matmul(x[0].transpose(-2, -1), x[1].transpose(-2, -1)); }},
      {"gemm|row A^T B, 1-D", [](const V& x) { return torch::matmul(x[0], x[1]); }},
      {"batched_gemm|A B", [](const V& x) { return torch::matmul(x[0], x[1]); }},
      {"batched_gemm|A B^T", [](const V& x) { return torch::matmul(x[0], x[1].transpose(-2, -1)); }},
      {"batched_gemm|A^T B", [](const V& x) { return torch::matmul(x[0].transpose(-2, -1), x[1]); }},
      {"batched_gemm|A^T B^T",
       [](const V& x) { return torch::matmul(x[0].transpose(-2, -1), x[1].transpose(-2, -1)); }},
      {"transpose|", [](const V& x) { return x[0].t(); }},
      {"reshape|[2,3] to [3,2]", [](const V& x) { return x[0].reshape({3, 2}); }},
      {"softmax_cross_entropy|class indices",
       [](const V& x) { return torch::cross_entropy_loss(x[0], torch::tensor({2, 0, 1}, torch::kLong)); }},
      {"softmax_cross_entropy|probabilities", [](const V& x) { return torch::cross_entropy_loss(x[0], x[1]); }},
      {"softmax_cross_entropy|probabilities that require gradients",
       [](const V& x) { return torch::cross_entropy_loss(x[0], x[1]); }},
      {"mse_loss|", [](const V& x) { return torch::mse_loss(x[0], x[1]); }},
      {"binary_cross_entropy_with_logits|",
       [](const V& x) { return torch::binary_cross_entropy_with_logits(x[0], x[1]); }},
      {"one_hot|", [](const V&) { return torch::one_hot(torch::tensor({1, 0}, torch::kLong), 3).to(torch::kFloat64); }},
      {"sum_to|[2,3,4] to [3,1]", [](const V& x) { return x[0].sum(0).sum(1, true); }},
      {"sum_to|[1,2,3] to [2,3]", [](const V& x) { return x[0].reshape({2, 3}); }},
      {"sum_to|[20,3] to [3]", [](const V& x) { return x[0].sum(0); }},
      {"sum_to|[2,3] to [1,3]", [](const V& x) { return x[0].sum(0, true); }},
      {"sum_to|[2,3] to []", [](const V& x) { return x[0].sum(); }},
      {"broadcast_to|[3,1] to [2,3,4]", [](const V& x) { return x[0].expand({2, 3, 4}); }},
      {"broadcast_to|[4] to [3,4]", [](const V& x) { return x[0].expand({3, 4}); }},
      {"broadcast_to|[] to [2,3]", [](const V& x) { return x[0].expand({2, 3}); }},
      {"sum|all", [](const V& x) { return x[0].sum(); }},
      {"sum|axis=0", [](const V& x) { return x[0].sum(0); }},
      {"sum|axis=-1, keepdim", [](const V& x) { return x[0].sum(-1, true); }},
      {"mean|all", [](const V& x) { return x[0].mean(); }},
      {"mean|axis=0", [](const V& x) { return x[0].mean(0); }},
      {"max|axis=1", [](const V& x) { return std::get<0>(x[0].max(1)); }},
      {"max|all", [](const V& x) { return x[0].max(); }},
      {"max|axes={0,2}", [](const V& x) { return x[0].amax(at::IntArrayRef{0, 2}); }},
      {"max|axes={-1,0}, keepdim", [](const V& x) { return x[0].amax(at::IntArrayRef{-1, 0}, true); }},
      {"max|axes={1}", [](const V& x) { return x[0].amax(at::IntArrayRef{1}); }},
      {"sum|axes={0,2}", [](const V& x) { return x[0].sum(at::IntArrayRef{0, 2}); }},
      {"sum|axes={-1,0}, keepdim", [](const V& x) { return x[0].sum(at::IntArrayRef{-1, 0}, true); }},
      {"mean|axes={0,2}", [](const V& x) { return x[0].mean(at::IntArrayRef{0, 2}); }},
      {"min|axis=1", [](const V& x) { return std::get<0>(x[0].min(1)); }},
      {"min|all", [](const V& x) { return x[0].min(); }},
      {"min|axes={0,2}", [](const V& x) { return x[0].amin(at::IntArrayRef{0, 2}); }},
      {"min|axes={-1,0}, keepdim", [](const V& x) { return x[0].amin(at::IntArrayRef{-1, 0}, true); }},
      {"min|axes={1}", [](const V& x) { return x[0].amin(at::IntArrayRef{1}); }},
      {"prod|axis=1", [](const V& x) { return x[0].prod(1); }},
      {"prod|axis=0, keepdim, with zeros", [](const V& x) { return x[0].prod(0, true); }},
      {"cumsum|axis=1", [](const V& x) { return x[0].cumsum(1); }},
      {"cumsum|axis=-1", [](const V& x) { return x[0].cumsum(-1); }},
      {"logsumexp|axis=1", [](const V& x) { return torch::logsumexp(x[0], 1); }},
      {"logsumexp|axis=0, keepdim", [](const V& x) { return torch::logsumexp(x[0], 0, true); }},
      {"var|axis=1", [](const V& x) { return x[0].var(1); }},
      {"var|axis=0, keepdim, correction=0", [](const V& x) { return x[0].var(0, /*unbiased=*/false, /*keepdim=*/true); }},
      {"std|axis=1", [](const V& x) { return x[0].std(1); }},
      {"std|axis=0, keepdim, correction=0", [](const V& x) { return x[0].std(0, /*unbiased=*/false, /*keepdim=*/true); }},
      {"norm|all", [](const V& x) { return x[0].norm(); }},
      {"argmax|axis=1", [](const V& x) { return x[0].argmax(1).to(torch::kFloat64); }},
      {"softmax|axis=1", [](const V& x) { return torch::softmax(x[0], 1); }},
      {"softmax|axis=0", [](const V& x) { return torch::softmax(x[0], 0); }},
      {"log_softmax|axis=1", [](const V& x) { return torch::log_softmax(x[0], 1); }},
      {"log_softmax|axis=-1", [](const V& x) { return torch::log_softmax(x[0], -1); }},
      {"conv2d|3x3, padding 1", [](const V& x) { return torch::conv2d(x[0], x[1], x[2], at::IntArrayRef{1, 1}, at::IntArrayRef{1, 1}, at::IntArrayRef{1, 1}); }},
      {"conv2d|stride 2, odd sizes, no bias", [](const V& x) { return torch::conv2d(x[0], x[1], c10::optional<torch::Tensor>(), at::IntArrayRef{2, 2}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}); }},
      {"conv2d|stride 2, padding 1", [](const V& x) { return torch::conv2d(x[0], x[1], x[2], at::IntArrayRef{2, 2}, at::IntArrayRef{1, 1}, at::IntArrayRef{1, 1}); }},
      {"conv2d|dilation 2, padding 2, batch 1", [](const V& x) { return torch::conv2d(x[0], x[1], x[2], at::IntArrayRef{1, 1}, at::IntArrayRef{2, 2}, at::IntArrayRef{2, 2}); }},
      {"conv2d|1x1", [](const V& x) { return torch::conv2d(x[0], x[1], x[2], at::IntArrayRef{1, 1}, at::IntArrayRef{0, 0}, at::IntArrayRef{1, 1}); }},
      {"max_pool2d|kernel 2", [](const V& x) { return torch::max_pool2d(x[0], 2, 2); }},
      {"max_pool2d|kernel 3, stride 2, padding 1", [](const V& x) { return torch::max_pool2d(x[0], 3, 2, 1); }},
      {"max_pool2d|kernel 2, stride 1", [](const V& x) { return torch::max_pool2d(x[0], 2, 1); }},
      {"avg_pool2d|kernel 2", [](const V& x) { return torch::avg_pool2d(x[0], 2, 2); }},
      {"avg_pool2d|kernel 3, stride 2, padding 1", [](const V& x) { return torch::avg_pool2d(x[0], 3, 2, 1); }},
      {"batch_norm|training",
       [](const V& x) { return torch::batch_norm(x[0], x[1], x[2], {}, {}, true, 0.1, 1e-5, false); }},
      // Written out: libtorch's batch_norm has no gradient for the running statistics.
      {"batch_norm|eval",
       [](const V& x) {
         std::vector<int64_t> c(static_cast<size_t>(x[0].dim()), 1);
         c[1] = x[0].size(1);
         return (x[0] - x[3].view(c)) / torch::sqrt(x[4].view(c) + 1e-5) * x[1].view(c) + x[2].view(c);
       }},
      {"slice|axis=1, 1:3", [](const V& x) { return x[0].slice(1, 1, 3); }},
      {"slice|axis=-1, -5:100:2", [](const V& x) { return x[0].slice(-1, 0, x[0].size(-1), 2); }},
      {"select|axis=1, index=-1", [](const V& x) { return x[0].select(1, -1); }},
      {"select|axis=0, index=1", [](const V& x) { return x[0].select(0, 1); }},
      {"index_select|axis=1, {2, 0, 2, -1}",
       [](const V& x) {
         return x[0].index_select(1, torch::tensor({int64_t(2), int64_t(0), int64_t(2), x[0].size(1) - 1}, torch::kLong));
       }},
      {"gather|axis=1",
       [](const V& x) { return x[0].gather(1, torch::tensor({2, 0, 3}, torch::kLong).view({-1, 1})).squeeze(1); }},
      {"gather|axis=0",
       [](const V& x) { return x[0].gather(0, torch::tensor({1, 2, 0, 2}, torch::kLong).view({1, -1})).squeeze(0); }},
      {"cat|axis=0", [](const V& x) { return torch::cat(x, 0); }},
      {"cat|axis=-1", [](const V& x) { return torch::cat(x, -1); }},
      {"stack|axis=1", [](const V& x) { return torch::stack(x, 1); }},
      {"unsqueeze|axis=-1", [](const V& x) { return x[0].unsqueeze(-1); }},
      {"squeeze|axis=1", [](const V& x) { return x[0].squeeze(1); }},
      {"squeeze|all", [](const V& x) { return x[0].squeeze(); }},
      {"flatten|all", [](const V& x) { return x[0].flatten(); }},
      {"flatten|start=1", [](const V& x) { return x[0].flatten(1); }},
      {"permute|{2, 0, 1}", [](const V& x) { return x[0].permute({2, 0, 1}); }},
      {"permute|{-1, 0}", [](const V& x) { return x[0].permute({1, 0}); }},
      {"transpose|axes 1 and -1 of 3-D", [](const V& x) { return x[0].transpose(1, -1); }},
      {"expand|[3,1] to [2,-1,4]", [](const V& x) { return x[0].expand({2, -1, 4}); }},
  };
  return ops;
}

std::string key(const tg::OpEntry& e) { return e.name + "|" + e.variant; }

std::vector<int64_t> dims(const tg::Shape& s) {
  std::vector<int64_t> d;
  for (size_t i = 0; i < s.size(); ++i) d.push_back(s[i]);
  return d;
}

torch::Tensor to_torch(const tg::Tensor& t) {
  std::vector<double> v = t.to(tg::Dtype::f64).to_vector<double>();
  return torch::from_blob(v.data(), dims(t.shape()), torch::kFloat64).clone();
}

std::vector<double> values(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kFloat64).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

// ||a - b|| <= tol * max(||b||, 1): relative for large values, absolute near zero.
::testing::AssertionResult close(const std::vector<double>& a, const std::vector<double>& b, double tol) {
  if (a.size() != b.size())
    return ::testing::AssertionFailure() << a.size() << " elements against libtorch's " << b.size();
  double diff = 0, norm = 0;
  size_t worst = 0;
  double worst_diff = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = a[i] - b[i];
    if (!(std::fabs(d) <= worst_diff)) worst_diff = std::fabs(d), worst = i;
    diff += d * d;
    norm += b[i] * b[i];
  }
  diff = std::sqrt(diff);
  norm = std::sqrt(norm);
  if (diff <= tol * std::max(norm, 1.0)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "normwise difference " << diff << " against a norm of " << norm
                                       << "; worst element " << worst << ": " << a[worst] << " vs libtorch "
                                       << b[worst];
}

enum class Step { tanh, sigmoid, scale, square, add_leaf, mul_leaf };

// One random graph, described once and built twice.
struct Graph {
  struct Item {
    Step step;
    double c = 0;                    // the scale
    std::vector<double> leaf;        // the new leaf's values (add_leaf, mul_leaf)
    std::vector<int64_t> leaf_shape;
  };
  std::vector<Item> steps;
  std::vector<double> projection;  // of the output, to a scalar
  int reuse = -1;                  // the input used a second time (-1: none)
  std::vector<double> reuse_weights;
};

std::vector<double> normal(size_t n, std::mt19937_64& rng) {
  std::normal_distribution<double> d;
  std::vector<double> v(n);
  for (double& x : v) x = d(rng);
  return v;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Graph random_graph(const std::vector<int64_t>& out_shape, const std::vector<std::vector<int64_t>>& in_shapes,
                   const std::vector<bool>& variable, std::mt19937_64& rng) {
  Graph g;
  const int n = 1 + static_cast<int>(rng() % 3);
  for (int k = 0; k < n; ++k) {
    Graph::Item it{static_cast<Step>(rng() % 6), 0, {}, {}};
    if (it.step == Step::scale) it.c = std::uniform_real_distribution<double>(-2, 2)(rng);
    if (it.step == Step::add_leaf || it.step == Step::mul_leaf) {
      // Broadcasts against the output: some leading axes dropped, some others of size 1.
      const size_t drop = out_shape.empty() ? 0 : rng() % (out_shape.size() + 1);
      for (size_t a = drop; a < out_shape.size(); ++a) it.leaf_shape.push_back(rng() % 2 ? out_shape[a] : 1);
      it.leaf = normal(static_cast<size_t>(numel(it.leaf_shape)), rng);
    }
    g.steps.push_back(it);
  }
  g.projection = normal(static_cast<size_t>(numel(out_shape)), rng);
  std::vector<int> candidates;
  for (size_t i = 0; i < in_shapes.size(); ++i)
    if (variable[i]) candidates.push_back(static_cast<int>(i));
  if (!candidates.empty() && rng() % 2) {
    g.reuse = candidates[rng() % candidates.size()];
    g.reuse_weights = normal(static_cast<size_t>(numel(in_shapes[static_cast<size_t>(g.reuse)])), rng);
  }
  return g;
}

struct Result {
  double loss = 0;
  std::vector<std::vector<double>> grads;  // the inputs' (variables only), then the new leaves'
};

Result run_tapegrad(const tg::OpEntry& e, const std::vector<tg::Tensor>& sample, const std::vector<bool>& variable,
                    const Graph& g) {
  std::vector<tg::Tensor> in;
  for (size_t i = 0; i < sample.size(); ++i) in.push_back(sample[i].clone().requires_grad(variable[i]));
  std::vector<tg::Tensor> leaves;
  tg::Tensor y = e.fn(in);
  for (const Graph::Item& it : g.steps) {
    switch (it.step) {
      case Step::tanh: y = tg::tanh(y); break;
      case Step::sigmoid: y = tg::sigmoid(y); break;
      case Step::scale: y = y * it.c; break;
      case Step::square: y = y * y; break;
      case Step::add_leaf:
      case Step::mul_leaf: {
        tg::Tensor w = tg::from_vector(it.leaf, tg::Shape(it.leaf_shape), tg::Dtype::f64).requires_grad(true);
        leaves.push_back(w);
        y = it.step == Step::add_leaf ? y + w : y * w;
        break;
      }
    }
  }
  tg::Tensor loss = tg::sum(y * tg::from_vector(g.projection, y.shape(), tg::Dtype::f64));
  if (g.reuse >= 0) {
    const tg::Tensor& x = in[static_cast<size_t>(g.reuse)];
    loss = loss + tg::sum(x * tg::from_vector(g.reuse_weights, x.shape(), tg::Dtype::f64));
  }
  loss.backward();
  Result r{loss.item(), {}};
  for (const tg::Tensor& t : in)
    if (t.requires_grad()) r.grads.push_back(t.grad().to_vector<double>());
  for (const tg::Tensor& w : leaves) r.grads.push_back(w.grad().to_vector<double>());
  return r;
}

Result run_torch(const TorchFn& f, const std::vector<tg::Tensor>& sample, const std::vector<bool>& variable,
                 const Graph& g) {
  std::vector<torch::Tensor> in;
  for (size_t i = 0; i < sample.size(); ++i) in.push_back(to_torch(sample[i]).requires_grad_(variable[i]));
  std::vector<torch::Tensor> leaves;
  torch::Tensor y = f(in);
  for (const Graph::Item& it : g.steps) {
    switch (it.step) {
      case Step::tanh: y = torch::tanh(y); break;
      case Step::sigmoid: y = torch::sigmoid(y); break;
      case Step::scale: y = y * it.c; break;
      case Step::square: y = y * y; break;
      case Step::add_leaf:
      case Step::mul_leaf: {
        std::vector<double> v = it.leaf;
        torch::Tensor w = torch::from_blob(v.data(), it.leaf_shape, torch::kFloat64).clone().requires_grad_(true);
        leaves.push_back(w);
        y = it.step == Step::add_leaf ? y + w : y * w;
        break;
      }
    }
  }
  std::vector<double> p = g.projection;
  torch::Tensor loss = (y * torch::from_blob(p.data(), y.sizes(), torch::kFloat64)).sum();
  std::vector<double> rw = g.reuse_weights;
  if (g.reuse >= 0) {
    const torch::Tensor& x = in[static_cast<size_t>(g.reuse)];
    loss = loss + (x * torch::from_blob(rw.data(), x.sizes(), torch::kFloat64)).sum();
  }
  loss.backward();
  Result r{loss.item<double>(), {}};
  for (const torch::Tensor& t : in)
    if (t.requires_grad()) r.grads.push_back(values(t.grad()));
  for (const torch::Tensor& w : leaves) r.grads.push_back(values(w.grad()));
  return r;
}

}  // namespace

// The registered backward ops (tanh_backward, conv2d_input_grad, slice_backward, ...) are the
// pieces of a recorded backward: they are compared with libtorch through double backward below,
// not spelled one by one (libtorch's own are internal).
bool is_backward_piece(const tg::OpEntry& e) {
  for (const char* suffix : {"_backward", "_grad", "_gather"})
    if (e.name.size() > std::strlen(suffix) && e.name.compare(e.name.size() - std::strlen(suffix), std::string::npos, suffix) == 0)
      return true;
  return e.name.find("_backward_") != std::string::npos;  // one of several (pow_backward_self)
}

// A new op joins the suite by giving its libtorch spelling above.
TEST(TorchDifferential, EveryRegisteredOpHasALibtorchSpelling) {
  for (const tg::OpEntry& e : tg::op_registry()) {
    if (is_backward_piece(e)) continue;
    EXPECT_TRUE(torch_ops().count(key(e))) << key(e) << " has no libtorch spelling in " << __FILE__;
  }
}

// Hessian-vector products by double backward, ours against libtorch's, through every op: the
// loss is sum(tanh(op(x)) * p), so that linear ops too have second derivatives, and H u is the
// gradient of <grad, u> for a random u.
TEST(TorchDifferential, DoubleBackwardOverEveryOpAgreesWithLibtorch) {
  constexpr double kTol = 1e-9;
  tg::Generator gen(20261203);
  std::mt19937_64 rng(13);
  int compared = 0;
  for (const tg::OpEntry& e : tg::op_registry()) {
    auto f = torch_ops().find(key(e));
    if (f == torch_ops().end() || !e.differentiable) continue;
    for (const tg::OpSample& s : e.samples(tg::Dtype::f64, gen)) {
      const std::string where = key(e) + " on " + s.note;
      std::vector<tg::Tensor> in, wrt;
      std::vector<torch::Tensor> tin, twrt;
      std::vector<std::vector<double>> u;
      for (size_t i = 0; i < s.inputs.size(); ++i) {
        const bool variable = std::find(e.nondiff_inputs.begin(), e.nondiff_inputs.end(), i) == e.nondiff_inputs.end();
        in.push_back(s.inputs[i].clone().requires_grad(variable));
        tin.push_back(to_torch(s.inputs[i]).requires_grad_(variable));
        if (!variable) continue;
        wrt.push_back(in.back());
        twrt.push_back(tin.back());
        u.push_back(normal(static_cast<size_t>(s.inputs[i].numel()), rng));
      }
      if (wrt.empty()) continue;
      const tg::Tensor y = e.fn(in);
      std::vector<double> p = normal(static_cast<size_t>(y.numel()), rng);
      // Ours.
      const tg::Tensor loss = tg::sum(tg::tanh(y) * tg::from_vector(p, y.shape(), tg::Dtype::f64));
      const std::vector<tg::Tensor> g = tg::grad(loss, wrt, {.create_graph = true, .allow_unused = true});
      tg::Tensor gu = tg::zeros({}, tg::Dtype::f64);
      for (size_t k = 0; k < g.size(); ++k) gu = gu + tg::sum(g[k] * tg::from_vector(u[k], g[k].shape(), tg::Dtype::f64));
      std::vector<tg::Tensor> ours;
      if (gu.requires_grad()) ours = tg::grad(gu, wrt, {.allow_unused = true});
      // libtorch's.
      const torch::Tensor ty = f->second(tin);
      const torch::Tensor tloss = (torch::tanh(ty) * torch::from_blob(p.data(), ty.sizes(), torch::kFloat64)).sum();
      const std::vector<torch::Tensor> tg_ = torch::autograd::grad({tloss}, twrt, {}, true, true, true);
      torch::Tensor tgu = torch::zeros({}, torch::kFloat64);
      for (size_t k = 0; k < tg_.size(); ++k)
        if (tg_[k].defined()) tgu = tgu + (tg_[k] * torch::from_blob(u[k].data(), tg_[k].sizes(), torch::kFloat64)).sum();
      std::vector<torch::Tensor> theirs;
      if (tgu.requires_grad()) theirs = torch::autograd::grad({tgu}, twrt, {}, false, false, true);
      for (size_t k = 0; k < wrt.size(); ++k) {
        const std::vector<double> a = k < ours.size() ? ours[k].to_vector<double>() : std::vector<double>(u[k].size(), 0.0);
        const std::vector<double> b =
            k < theirs.size() && theirs[k].defined() ? values(theirs[k]) : std::vector<double>(u[k].size(), 0.0);
        EXPECT_TRUE(close(a, b, kTol)) << where << ": H u of variable " << k;
      }
      ++compared;
    }
  }
  EXPECT_GT(compared, 100);
}

TEST(TorchDifferential, RandomGraphsOverEveryOpAgreeWithLibtorch) {
  constexpr double kTol = 1e-10;
  constexpr int kGraphsPerSample = 4;
  tg::Generator gen(20261202);
  std::mt19937_64 rng(11);
  int graphs = 0;
  for (const tg::OpEntry& e : tg::op_registry()) {
    auto f = torch_ops().find(key(e));
    if (f == torch_ops().end()) continue;  // reported by the test above
    for (const tg::OpSample& s : e.samples(tg::Dtype::f64, gen)) {
      const std::string where = key(e) + " on " + s.note;
      std::vector<torch::Tensor> tin;
      for (const tg::Tensor& t : s.inputs) tin.push_back(to_torch(t));
      // The forward alone, for every entry (the non-differentiable ones stop here).
      const tg::Tensor y = e.fn(s.inputs);
      EXPECT_TRUE(close(y.to(tg::Dtype::f64).to_vector<double>(), values(f->second(tin)), kTol)) << where << ": forward";
      if (!e.differentiable) continue;
      std::vector<bool> variable;
      std::vector<std::vector<int64_t>> shapes;
      for (size_t i = 0; i < s.inputs.size(); ++i) {
        variable.push_back(std::find(e.nondiff_inputs.begin(), e.nondiff_inputs.end(), i) == e.nondiff_inputs.end());
        shapes.push_back(dims(s.inputs[i].shape()));
      }
      for (int k = 0; k < kGraphsPerSample; ++k) {
        const Graph g = random_graph(dims(y.shape()), shapes, variable, rng);
        const Result ours = run_tapegrad(e, s.inputs, variable, g);
        const Result theirs = run_torch(f->second, s.inputs, variable, g);
        EXPECT_TRUE(close({ours.loss}, {theirs.loss}, kTol)) << where << ", graph " << k << ": loss";
        ASSERT_EQ(ours.grads.size(), theirs.grads.size()) << where;
        for (size_t i = 0; i < ours.grads.size(); ++i)
          EXPECT_TRUE(close(ours.grads[i], theirs.grads[i], kTol)) << where << ", graph " << k << ": gradient of leaf " << i;
        ++graphs;
      }
    }
  }
  EXPECT_GT(graphs, 200);
}
