#include "tapegrad/nn/batchnorm.h"

#include <sstream>

#include "tapegrad/autograd/ops.h"
#include "tapegrad/autograd/tape.h"

namespace tapegrad::nn {

BatchNorm::BatchNorm(int64_t features, int64_t input_rank, BatchNormOptions options)
    : features_(features), rank_(input_rank), options_(options) {
  const char* who = input_rank == 4 ? "BatchNorm2d" : "BatchNorm1d";  // name() is not virtual yet
  if (features <= 0) throw Error(std::string(who) + ": features must be positive, got " + std::to_string(features));
  if (!(options.eps > 0) || !(options.momentum >= 0 && options.momentum <= 1)) {
    std::ostringstream os;
    os << who << ": expected eps > 0 and momentum in [0, 1], got eps=" << options.eps
       << " momentum=" << options.momentum;
    throw Error(os.str());
  }
  if (options.affine) {
    weight_ = tapegrad::ones({features}, options.dtype).requires_grad(true);
    bias_ = tapegrad::zeros({features}, options.dtype).requires_grad(true);
  }
  running_mean_ = tapegrad::zeros({features}, options.dtype);
  running_var_ = tapegrad::ones({features}, options.dtype);
  // A float count is exact up to 2^24 batches in float32; files carry it as int64 (io/torch.h).
  num_batches_tracked_ = tapegrad::tensor(0.0, options.dtype);
}

std::string BatchNorm::str() const {
  std::ostringstream os;
  os << name() << "(features=" << features_ << ", eps=" << options_.eps << ", momentum=" << options_.momentum
     << ", affine=" << (options_.affine ? "true" : "false") << ")";
  return os.str();
}

Shape BatchNorm::output_shape(const Shape& input) const {
  const bool rank_ok = rank_ == 4 ? input.size() == 4 : input.size() == 2 || input.size() == 3;
  if (!rank_ok || input[1] != features_) {
    const std::string c = std::to_string(features_);
    throw Error(str() + ": input has shape " + input.str() + " but must be " +
                (rank_ == 4 ? "[N, " + c + ", H, W]" : "[N, " + c + "] or [N, " + c + ", L]"));
  }
  return input;
}

Tensor BatchNorm::forward(const Tensor& x) {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  output_shape(x.shape());
  if (x.dtype() != running_mean_.dtype())
    throw Error(str() + ": input is " + std::string(dtype_name(x.dtype())) + " but the layer is " +
                std::string(dtype_name(running_mean_.dtype())) + "; convert with to()");
  compile_depends_on_mode();  // batch statistics or running ones: fixed in a compiled step
  const bool training = is_training();
  if (training && x.numel() / features_ < 2)
    throw Error(str() + ": training mode needs more than one value per channel to estimate a variance, got input " +
                x.shape().str());
  Tensor y = batch_norm(x, weight_, bias_, running_mean_, running_var_,
                        tapegrad::BatchNormOptions{.training = training, .momentum = options_.momentum,
                                                   .eps = options_.eps});
  if (training) {  // counted once the batch has gone through, so a failed forward changes nothing
    NoGradGuard no_grad;
    num_batches_tracked_.fill_(num_batches_tracked_.item() + 1);
  }
  return y;
}

TorchLayout BatchNorm::torch_layout(const std::string& name) const {
  return name == "num_batches_tracked" ? TorchLayout::count : TorchLayout::same;
}

NamedTensors BatchNorm::own_parameters() const {
  if (!options_.affine) return {};
  return {{"weight", weight_}, {"bias", bias_}};
}

NamedTensors BatchNorm::own_buffers() const {
  return {{"running_mean", running_mean_},
          {"running_var", running_var_},
          {"num_batches_tracked", num_batches_tracked_}};
}

}  // namespace tapegrad::nn
