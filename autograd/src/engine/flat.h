#pragma once
// Private: tensors flattened and concatenated in order, as one recorded vector (the layout of
// jacobian's and hessian's columns and of gradgradcheck's first derivative).
#include <vector>

#include "tapegrad/autograd/ops.h"

namespace tapegrad::detail {

inline Tensor concat_flat(const std::vector<Tensor>& ts) {
  std::vector<Tensor> flat;
  for (const Tensor& t : ts) flat.push_back(reshape(t, {t.numel()}));
  return flat.size() == 1 ? flat[0] : cat(flat, 0);
}

}  // namespace tapegrad::detail
