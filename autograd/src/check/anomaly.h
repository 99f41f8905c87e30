#pragma once
// Private: anomaly mode's checks, called by recording and by the backward engine.
#include <cstddef>

#include "tapegrad/core/tensor.h"
#include "tls.h"

namespace tapegrad::detail {

struct Node;

// Anomaly mode's flag, read directly by the recording path (anomaly.h has the public switch).
extern TG_TLS thread_local bool anomaly_on;

// Throws naming `op` and `position` if `out` holds a NaN or an infinity.
void check_finite_forward(const char* op, const Tensor& out, size_t position);
// Throws naming the node if a gradient it just produced holds a NaN or an infinity.
void check_finite_backward(const Node& node, size_t position);

}  // namespace tapegrad::detail
