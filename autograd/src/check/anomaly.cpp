#include "tapegrad/autograd/anomaly.h"

#include <cmath>

#include "check/anomaly.h"
#include "engine/node.h"

namespace tapegrad {

namespace detail {
TG_TLS thread_local bool anomaly_on = false;
}  // namespace detail
using detail::anomaly_on;

namespace {

// Index of the first NaN or infinity in t, or -1.
int64_t first_non_finite(const Tensor& t) {
  return detail::dispatch(t.dtype(), [&](auto tag) -> int64_t {
    using T = decltype(tag);
    const T* p = t.data<T>();
    for (int64_t k = 0, n = t.numel(); k < n; ++k)
      if (!std::isfinite(p[k])) return k;
    return -1;
  });
}

std::string describe(const Tensor& t, int64_t flat) {
  const Shape& s = t.shape();
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  std::string r = "[";
  for (size_t d = 0; d < idx.size(); ++d) r += (d ? ", " : "") + std::to_string(idx[d]);
  return r + "]";
}
}  // namespace

bool anomaly_enabled() { return anomaly_on; }
AnomalyGuard::AnomalyGuard(bool on) : previous_(anomaly_on) { anomaly_on = on; }
AnomalyGuard::~AnomalyGuard() { anomaly_on = previous_; }

namespace detail {

void check_finite_forward(const char* op, const Tensor& out, size_t position) {
  int64_t k = first_non_finite(out);
  if (k < 0) return;
  double v = out.to_vector<double>()[static_cast<size_t>(k)];
  throw Error(std::string("anomaly: ") + op + " (node " + std::to_string(position) + ") produced " +
              (std::isnan(v) ? "NaN" : "inf") + " at " + describe(out, k) + " of its output " + out.shape().str());
}

void check_finite_backward(const Node& node, size_t position) {
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const Tensor& in = node.inputs[i];
    // A leaf's gradient of the pass under way is still apart from its grad() (engine/backward.cpp).
    const TensorImpl* t = impl_of(in);
    const Tensor& g = t->pending.defined() ? t->pending : t->grad;
    if (!g.defined()) continue;
    int64_t k = first_non_finite(g);
    if (k < 0) continue;
    double v = g.to_vector<double>()[static_cast<size_t>(k)];
    throw Error(std::string("anomaly: backward of ") + node.name() + " (node " + std::to_string(position) +
                ") produced " + (std::isnan(v) ? "NaN" : "inf") + " at " + describe(g, k) +
                " of the gradient of input " + std::to_string(i) + " " + in.shape().str());
  }
}

}  // namespace detail
}  // namespace tapegrad
