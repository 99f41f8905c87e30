#pragma once
// Private: the sizes of one conv2d call, shared by the im2col path (conv.cpp) and oneDNN's
// direct convolutions (conv_dnnl.cpp).
#include <atomic>
#include <cstdint>

namespace tapegrad::detail {

struct ConvGeometry {
  int64_t n, c, h, w;       // input
  int64_t o, kh, kw;        // weight
  int64_t oh, ow;           // output
  int64_t stride, pad, dil;
  int64_t taps() const { return c * kh * kw; }   // rows of cols
  int64_t positions() const { return oh * ow; }  // columns of cols
};

// The three passes of a convolution through oneDNN's direct primitives, float32, in the layouts
// the primitives choose (channels blocked by 16), the operands reordered from and to NCHW/OIHW
// inside. The images are cut into a fixed number of chunks, each one oneDNN call made for one
// thread, run on `threads` of ours: results are the same bits on any number of threads (the
// weight gradient's partials, one per chunk, are added in chunk order).
// Each returns false, computing nothing, where oneDNN does not take the call: not built in, no
// direct (JIT) convolution on this processor, or a shape where it
// does not pay (fewer than 16 channels in or out: the blocked layouts pad them to 16).
// Whether oneDNN is built in and the shape is one it takes (the primitives may still be missing).
bool dnnl_conv_takes(const ConvGeometry& g);
bool dnnl_conv2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads);
bool dnnl_conv2d_input_grad(const ConvGeometry& g, const float* gy, const float* w, float* gx, int threads);
bool dnnl_conv2d_weight_grad(const ConvGeometry& g, const float* x, const float* gy, float* gw, int threads);

// oneDNN convolution calls (one per chunk), for tg::gemm_path_counts.
extern std::atomic<int64_t> dnnl_conv_count;

// The number of chunks of a batch of n images: the weight gradient's partials (both paths).
inline int64_t conv_chunks(int64_t n) { return n < 16 ? n : 16; }

}  // namespace tapegrad::detail
