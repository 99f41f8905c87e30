#include "tapegrad/nn/conv.h"

#include <cmath>

#include "tapegrad/autograd/ops.h"
#include "tapegrad/nn/init.h"

namespace tapegrad::nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t kernel, Conv2dOptions options)
    : in_(in), out_(out), kernel_(kernel), options_(options) {
  if (in <= 0 || out <= 0 || kernel <= 0)
    throw Error("Conv2d: in, out and kernel must be positive, got in=" + std::to_string(in) +
                " out=" + std::to_string(out) + " kernel=" + std::to_string(kernel));
  if (options.stride < 1 || options.padding < 0 || options.dilation < 1)
    throw Error("Conv2d: expected stride >= 1, padding >= 0 and dilation >= 1, got stride=" +
                std::to_string(options.stride) + " padding=" + std::to_string(options.padding) +
                " dilation=" + std::to_string(options.dilation));
  Generator& gen = options.generator ? *options.generator : default_generator();
  weight_ = tapegrad::zeros({out, in, kernel, kernel}, options.dtype);
  // PyTorch's kaiming_uniform_(a = sqrt(5)) bound, gain sqrt(1/3) times sqrt(3 / fan_in), is
  // 1/sqrt(fan_in); its bias uses the same bound. (init::fans reads {in, out}, not this layout.)
  const double bound = 1.0 / std::sqrt(static_cast<double>(in * kernel * kernel));
  init::uniform(weight_, -bound, bound, gen);
  weight_.requires_grad(true);
  if (options.bias) {
    bias_ = tapegrad::zeros({out}, options.dtype);
    init::uniform(bias_, -bound, bound, gen);
    bias_.requires_grad(true);
  }
}

std::string Conv2d::str() const {
  std::string s = "Conv2d(in=" + std::to_string(in_) + ", out=" + std::to_string(out_) +
                  ", kernel=" + std::to_string(kernel_) + ", stride=" + std::to_string(options_.stride) +
                  ", padding=" + std::to_string(options_.padding);
  if (options_.dilation != 1) s += ", dilation=" + std::to_string(options_.dilation);
  return s + ", bias=" + (bias_.defined() ? "true" : "false") + ")";
}

Shape Conv2d::output_shape(const Shape& input) const {
  if (input.size() != 4 || input[1] != in_)
    throw Error(str() + ": input has shape " + input.str() + " but must be [N, " + std::to_string(in_) +
                ", H, W] (weight has shape " + (weight_.defined() ? weight_.shape().str() : "(undefined)") + ")");
  const int64_t span = options_.dilation * (kernel_ - 1) + 1;
  const int64_t h = input[2] + 2 * options_.padding, w = input[3] + 2 * options_.padding;
  if (h < span || w < span)
    throw Error(str() + ": input has shape " + input.str() + ", whose padded size " + std::to_string(h) + "x" +
                std::to_string(w) + " is smaller than the kernel's span " + std::to_string(span) + "x" +
                std::to_string(span));
  return {input[0], out_, (h - span) / options_.stride + 1, (w - span) / options_.stride + 1};
}

Tensor Conv2d::forward(const Tensor& x) {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  output_shape(x.shape());
  if (!weight_.defined()) throw Error(str() + ": the weight is undefined");
  if (x.dtype() != weight_.dtype())
    throw Error(str() + ": input is " + std::string(dtype_name(x.dtype())) + " but the weight is " +
                std::string(dtype_name(weight_.dtype())) + "; convert with to()");
  return conv2d(x, weight_, bias_,
                tapegrad::Conv2dOptions{.stride = options_.stride, .padding = options_.padding,
                                        .dilation = options_.dilation});
}

NamedTensors Conv2d::own_parameters() const {
  NamedTensors p{{"weight", weight_}};
  if (bias_.defined()) p.emplace_back("bias", bias_);
  return p;
}

}  // namespace tapegrad::nn
