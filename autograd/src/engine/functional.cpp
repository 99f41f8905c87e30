// The functional helpers over a TensorFn: jacobian, hessian and hvp, all by tg::grad; and the
// gradient norms that show a gradient vanishing layer by layer or step by step.
#include <cmath>
#include <string>

#include "tapegrad/autograd/grad.h"
#include "tapegrad/autograd/ops.h"
#include "engine/flat.h"

namespace tapegrad {

namespace {

// Fresh leaves holding the inputs' values, so that the helpers' passes leave the caller's
// tensors and their grad() alone.
std::vector<Tensor> leaves(const char* who, const std::vector<Tensor>& inputs) {
  if (inputs.empty()) throw Error(std::string(who) + ": no inputs: there is nothing to differentiate");
  std::vector<Tensor> in;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].defined()) throw Error(std::string(who) + ": input " + std::to_string(k) + " is undefined");
    in.push_back(inputs[k].detach().requires_grad(true));
  }
  return in;
}

Tensor call(const char* who, const TensorFn& fn, const std::vector<Tensor>& in) {
  Tensor out = fn(in);
  if (!out.defined()) throw Error(std::string(who) + ": the function returned an undefined tensor");
  return out;
}

int64_t total_elements(const std::vector<Tensor>& in) {
  int64_t n = 0;
  for (const Tensor& t : in) n += t.numel();
  return n;
}

// The rows d out[r] / d in, one backward pass per element of `out`, as an [out.numel(), N] matrix.
Tensor rows_of(const Tensor& out, const std::vector<Tensor>& in) {
  const int64_t m = out.numel(), n = total_elements(in);
  std::vector<double> values(static_cast<size_t>(m * n), 0.0);
  if (out.requires_grad()) {
    for (int64_t r = 0; r < m; ++r) {
      std::vector<double> one_hot(static_cast<size_t>(m), 0.0);
      one_hot[static_cast<size_t>(r)] = 1.0;
      const Tensor e = from_vector(one_hot, out.shape(), out.dtype());
      std::vector<Tensor> g = grad(out, in, {.retain_graph = true, .allow_unused = true, .grad_output = e});
      int64_t c = 0;
      for (const Tensor& gk : g)
        for (double v : gk.to(Dtype::f64).to_vector<double>()) values[static_cast<size_t>(r * n + c++)] = v;
    }
  }
  return from_vector(values, Shape({m, n}), out.dtype());
}

}  // namespace

namespace {
double norm_of(const Tensor& g) {
  double sum = 0;
  for (double v : g.to_vector<double>()) sum += v * v;
  return std::sqrt(sum);
}
}  // namespace

std::vector<double> gradient_norms(const Tensor& output, const std::vector<Tensor>& inputs) {
  std::vector<double> norms;
  for (const Tensor& g : grad(output, inputs)) norms.push_back(norm_of(g));
  return norms;
}

std::vector<double> gradient_norms_along(const Tensor& output, const Tensor& x, int64_t axis) {
  const Tensor g = grad(output, {x})[0];
  const int64_t n = g.size(axis);  // names a bad axis
  std::vector<double> norms;
  for (int64_t i = 0; i < n; ++i) norms.push_back(norm_of(select(g, axis, i)));
  return norms;
}

Tensor jacobian(const TensorFn& fn, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> in = leaves("jacobian", inputs);
  return rows_of(call("jacobian", fn, in), in);
}

Tensor hessian(const TensorFn& fn, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> in = leaves("hessian", inputs);
  Tensor out = call("hessian", fn, in);
  if (out.numel() != 1)
    throw Error("hessian: the function must return one element, got shape " + out.shape().str() +
                " (for a vector function, take the jacobian of its gradient, or reduce it first)");
  if (!out.requires_grad()) return zeros(Shape({total_elements(in), total_elements(in)}), out.dtype());
  return rows_of(detail::concat_flat(grad(out, in, {.create_graph = true, .allow_unused = true})), in);
}

std::vector<Tensor> hvp(const TensorFn& fn, const std::vector<Tensor>& inputs, const std::vector<Tensor>& vectors) {
  std::vector<Tensor> in = leaves("hvp", inputs);
  if (vectors.size() != in.size())
    throw Error("hvp: " + std::to_string(vectors.size()) + " vectors for " + std::to_string(in.size()) +
                " inputs (one vector per input, of its shape)");
  for (size_t k = 0; k < in.size(); ++k) {
    if (!vectors[k].defined()) throw Error("hvp: vector " + std::to_string(k) + " is undefined");
    if (vectors[k].shape() != in[k].shape() || vectors[k].dtype() != in[k].dtype())
      throw Error("hvp: vector " + std::to_string(k) + " is " + vectors[k].shape().str() + " " +
                  std::string(dtype_name(vectors[k].dtype())) + ", input " + std::to_string(k) + " is " +
                  in[k].shape().str() + " " + std::string(dtype_name(in[k].dtype())));
  }
  Tensor out = call("hvp", fn, in);
  if (out.numel() != 1) throw Error("hvp: the function must return one element, got shape " + out.shape().str());
  std::vector<Tensor> zero;
  for (const Tensor& t : in) zero.push_back(zeros(t.shape(), t.dtype()));
  if (!out.requires_grad()) return zero;
  std::vector<Tensor> g = grad(out, in, {.create_graph = true, .allow_unused = true});
  Tensor gv;
  for (size_t k = 0; k < in.size(); ++k) {
    Tensor term = sum(g[k] * vectors[k].detach());
    gv = gv.defined() ? gv + term : term;
  }
  if (!gv.requires_grad()) return zero;  // the gradient is constant: the Hessian is zero
  return grad(gv, in, {.allow_unused = true});
}

}  // namespace tapegrad
