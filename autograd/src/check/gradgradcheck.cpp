// gradgradcheck: second derivatives, as gradcheck of the first derivative. The first derivative
// is a function of the inputs and of an upstream v, G(x, v) = J(x)^T v, computed by a backward
// that records itself (create_graph); gradcheck then compares G's own backward (the backward of
// backward) with central differences of G, whole and node by node on G's tape, which holds the
// function's nodes and the nodes its backward recorded (tanh_backward, the products of mul's).
#include <cmath>
#include <sstream>

#include "engine/flat.h"
#include "tapegrad/autograd/gradcheck.h"
#include "tapegrad/autograd/grad.h"
#include "tapegrad/core/generator.h"
#include "engine/node.h"

namespace tapegrad {

namespace {

// J(x)^T v for the inputs that require gradients (the others, data, get none), flattened and
// concatenated; the last element of `in` is v.
Tensor first_derivative(const TensorFn& fn, const std::vector<Tensor>& in, bool create_graph) {
  detail::GradMode on(true);  // also inside gradcheck's unrecorded forwards: G needs its graph
  const std::vector<Tensor> x(in.begin(), in.end() - 1);
  const Tensor& v = in.back();
  Tensor out = fn(x);
  if (!out.defined()) throw Error("gradgradcheck: the function returned an undefined tensor");
  if (out.shape() != v.shape())
    throw Error("gradgradcheck: the function's output is " + out.shape().str() + ", but it was " + v.shape().str() +
                " at the sample point (the output's shape must not depend on the inputs' values)");
  std::vector<Tensor> wrt;
  for (const Tensor& t : x)
    if (t.requires_grad()) wrt.push_back(t);
  std::vector<Tensor> g;
  if (out.requires_grad() && !wrt.empty())
    g = grad(out, wrt, {.create_graph = create_graph, .allow_unused = true, .grad_output = v.to(out.dtype())});
  else
    for (const Tensor& t : wrt) g.push_back(zeros(t.shape(), t.dtype()));
  if (g.empty()) return zeros(Shape({0}), v.dtype());
  return detail::concat_flat(g);
}

}  // namespace

namespace detail {
void refuse_autocast(const char* who);  // gradcheck.cpp
}

GradcheckReport gradgradcheck(const TensorFn& fn, const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  detail::refuse_autocast("gradgradcheck");
  if (inputs.empty()) throw Error("gradgradcheck: no inputs: there is nothing to check");
  for (size_t k = 0; k < inputs.size(); ++k)
    if (!inputs[k].defined()) throw Error("gradgradcheck: input " + std::to_string(k) + " is undefined");
  // v: a fixed random upstream of the output's shape, in float64; checked as an input of G too,
  // so that G's linearity in v (the backward's gradient with respect to its upstream) is checked.
  std::vector<Tensor> probe;
  for (const Tensor& t : inputs) probe.push_back(t.detach().to(Dtype::f64));
  Shape out_shape;
  {
    NoGradGuard no_grad;
    const Tensor out = fn(probe);
    if (!out.defined()) throw Error("gradgradcheck: the function returned an undefined tensor");
    out_shape = out.shape();
  }
  Generator gen(options.seed + 1);
  std::vector<Tensor> in = inputs;
  in.push_back(randn(out_shape, gen, Dtype::f64));

  // G as gradcheck sees it: skipped inputs stay data (no gradient is taken with respect to them).
  TensorFn g = [&fn](const std::vector<Tensor>& x) { return first_derivative(fn, x, true); };
  GradcheckReport r = gradcheck(g, in, options);
  r.method = "second order, " + r.method + " of the gradient; the last input is the upstream v";

  // G by the recorded backward must be the first derivative that plain backward gives: else the
  // second derivatives above are those of some other function.
  std::vector<Tensor> x;
  for (size_t k = 0; k < in.size(); ++k) {
    const bool skip = std::find(options.skip_inputs.begin(), options.skip_inputs.end(), k) != options.skip_inputs.end();
    x.push_back(in[k].detach().to(Dtype::f64).clone().requires_grad(!skip && k + 1 < in.size()));
  }
  const std::vector<double> recorded = first_derivative(fn, x, true).detach().to_vector<double>();
  const std::vector<double> plain = first_derivative(fn, x, false).to_vector<double>();
  for (size_t k = 0; k < recorded.size() && k < plain.size(); ++k) {
    const double err = std::abs(recorded[k] - plain[k]);
    if (!(err <= options.atol + options.rtol * std::abs(plain[k]))) {
      std::ostringstream os;
      os.precision(17);
      os << "the gradient recorded by create_graph differs from backward's at element " << k
         << " of the flattened inputs: " << recorded[k] << " against " << plain[k];
      r.first_order_mismatch = os.str();
      r.ok = false;
      break;
    }
  }
  return r;
}

}  // namespace tapegrad
