// conv2d's three passes through oneDNN's direct convolution primitives (ops/conv.h says when).
// Measured against the im2col path on the CNN's layers (benchmarks/conv_backends.cpp): in the
// layouts the primitives choose, with the reorders from and to NCHW counted, 1.3-1.7x per pass
// at 32 -> 64 channels; in NCHW itself (oneDNN's gemm-based path) slower than im2col, so the
// blocked layouts are what pays. At 1 -> 32 channels the input is padded to 16 channels: only the
// weight gradient won, over the whole batch, and in chunks of 4 images it ties with im2col.
#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#ifdef TAPEGRAD_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include "ops/conv.h"
#include "ops/gemm.h"
#include "ops/parallel.h"
#include "tapegrad/core/error.h"

namespace tapegrad::detail {

std::atomic<int64_t> dnnl_conv_count{0};

#ifdef TAPEGRAD_HAVE_DNNL
namespace {

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;
enum class Pass { forward, input_grad, weight_grad };

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// An operand in NCHW/OIHW (ours) and in the primitive's layout, with the reorders between them
// where the two differ (layer 1's forward reads its one-channel NCHW input as it is).
struct Operand {
  dnnl::memory::desc plain, blocked;
  dnnl::reorder to_blocked, to_plain;
  bool reordered = false;
};
Operand operand(const dnnl::memory::desc& plain, const dnnl::memory::desc& blocked) {
  Operand op{plain, blocked, {}, {}, false};
  if (plain != blocked) {
    op.reordered = true;
    op.to_blocked = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), plain, engine(), blocked));
    op.to_plain = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), blocked, engine(), plain));
  }
  return op;
}

// One pass at one chunk size. For input_grad, src is the input's gradient (written) and dst the
// output's (read); for weight_grad, wei is the weight's gradient (written).
struct Conv {
  Pass pass;
  dnnl::primitive prim;
  dnnl::memory::desc scratch_md, bias_md;
  Operand src, wei, dst;
};

bool is_jit(const std::string& impl) { return impl.rfind("jit", 0) == 0; }

// Made once per pass, chunk size, shape and bias, for one thread (oneDNN fixes its partition of
// the work when a primitive is made); nullptr where oneDNN has no direct JIT convolution for it.
const Conv* conv_for(Pass pass, const ConvGeometry& g, int64_t mb, bool bias) {
  const auto key = std::make_tuple(static_cast<int>(pass), mb, g.c, g.h, g.w, g.o, g.kh, g.kw, g.stride, g.pad, g.dil,
                                   bias);
  static std::mutex mutex;
  static std::map<decltype(key), std::unique_ptr<Conv>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(key); it != cache.end()) return it->second.get();
  OmpThreads omp(1);
  std::unique_ptr<Conv> c;
  try {
    const dnnl::memory::dims src{mb, g.c, g.h, g.w}, wei{g.o, g.c, g.kh, g.kw}, dst{mb, g.o, g.oh, g.ow};
    const dnnl::memory::dims strides{g.stride, g.stride}, dilates{g.dil - 1, g.dil - 1}, pad{g.pad, g.pad};
    auto any = [](const dnnl::memory::dims& d) { return dnnl::memory::desc(d, dt::f32, tag::any); };
    const dnnl::memory::desc src_plain(src, dt::f32, tag::nchw), wei_plain(wei, dt::f32, tag::oihw),
        dst_plain(dst, dt::f32, tag::nchw), bias_md({g.o}, dt::f32, tag::x);
    dnnl::primitive_attr attr;
    // Our scratchpad, one per thread: the chunks run the same primitive on several threads at once.
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const auto training = dnnl::prop_kind::forward_training;
    const auto direct = dnnl::algorithm::convolution_direct;
    const dnnl::convolution_forward::primitive_desc hint(
        bias && pass == Pass::forward
            ? dnnl::convolution_forward::desc(training, direct, any(src), any(wei), bias_md, any(dst), strides, dilates,
                                              pad, pad)
            : dnnl::convolution_forward::desc(training, direct, any(src), any(wei), any(dst), strides, dilates, pad,
                                              pad),
        attr, engine());
    c = std::make_unique<Conv>();
    c->pass = pass;
    c->bias_md = bias_md;
    if (pass == Pass::forward) {
      if (is_jit(hint.impl_info_str())) {
        c->prim = dnnl::convolution_forward(hint);
        c->scratch_md = hint.scratchpad_desc();
        c->src = operand(src_plain, hint.src_desc());
        c->wei = operand(wei_plain, hint.weights_desc());
        c->dst = operand(dst_plain, hint.dst_desc());
      } else {
        c.reset();
      }
    } else if (pass == Pass::input_grad) {
      const dnnl::convolution_backward_data::primitive_desc pd(
          dnnl::convolution_backward_data::desc(direct, any(src), any(wei), any(dst), strides, dilates, pad, pad), attr,
          engine(), hint);
      if (is_jit(pd.impl_info_str())) {
        c->prim = dnnl::convolution_backward_data(pd);
        c->scratch_md = pd.scratchpad_desc();
        c->src = operand(src_plain, pd.diff_src_desc());
        c->wei = operand(wei_plain, pd.weights_desc());
        c->dst = operand(dst_plain, pd.diff_dst_desc());
      } else {
        c.reset();
      }
    } else {
      const dnnl::convolution_backward_weights::primitive_desc pd(
          dnnl::convolution_backward_weights::desc(direct, any(src), any(wei), any(dst), strides, dilates, pad, pad),
          attr, engine(), hint);
      if (is_jit(pd.impl_info_str())) {
        c->prim = dnnl::convolution_backward_weights(pd);
        c->scratch_md = pd.scratchpad_desc();
        c->src = operand(src_plain, pd.src_desc());
        c->wei = operand(wei_plain, pd.diff_weights_desc());
        c->dst = operand(dst_plain, pd.diff_dst_desc());
      } else {
        c.reset();
      }
    }
  } catch (const dnnl::error&) {
    c.reset();  // no such primitive here: the im2col path computes it
  }
  return cache.emplace(key, std::move(c)).first->second.get();
}

size_t floats(const dnnl::memory::desc& md) { return md.get_size() / sizeof(float); }

// A memory object over `data` (made per call: a chunk's pass runs for a millisecond or so).
dnnl::memory mem(const dnnl::memory::desc& md, const void* data) {
  return dnnl::memory(md, engine(), const_cast<void*>(data));
}

// This thread's buffers for one chunk's operands in the blocked layouts, and its scratchpad.
struct ThreadBuffers {
  std::vector<float> src, dst;
  std::vector<uint8_t> scratch;
};
ThreadBuffers& buffers() {
  thread_local ThreadBuffers b;
  return b;
}

dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

// reorder::execute takes its memory objects by non-const reference.
void reorder(const dnnl::reorder& r, dnnl::memory from, dnnl::memory to) {
  try {
    r.execute(stream(), from, to);
  } catch (const dnnl::error& e) {
    throw Error(std::string("conv2d: oneDNN failed to reorder an operand to or from NCHW: ") + e.what());
  }
}

// An input operand in the primitive's layout: `plain` itself, or reordered into `buffer`.
dnnl::memory blocked_input(const Operand& op, const float* plain, std::vector<float>& buffer) {
  if (!op.reordered) return mem(op.plain, plain);
  buffer.resize(floats(op.blocked));
  dnnl::memory out = mem(op.blocked, buffer.data());
  reorder(op.to_blocked, mem(op.plain, plain), out);
  return out;
}

// Runs one chunk's primitive: in_a (src or diff_dst), the weights or second input, the output.
void execute_chunk(const Conv& c, const float* a, const float* b, const float* bias, float* out) {
  OmpThreads omp(1);
  ThreadBuffers& buf = buffers();
  buf.scratch.resize(c.scratch_md.get_size());
  dnnl::memory scratch = mem(c.scratch_md, buf.scratch.data());
  if (c.pass == Pass::forward) {  // a = x chunk, b = blocked weights
    dnnl::memory src = blocked_input(c.src, a, buf.src);
    if (c.dst.reordered) buf.dst.resize(floats(c.dst.blocked));
    dnnl::memory dst = c.dst.reordered ? mem(c.dst.blocked, buf.dst.data()) : mem(c.dst.plain, out);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, src},
                                               {DNNL_ARG_WEIGHTS, mem(c.wei.blocked, b)},
                                               {DNNL_ARG_DST, dst},
                                               {DNNL_ARG_SCRATCHPAD, scratch}};
    if (bias) args.emplace(DNNL_ARG_BIAS, mem(c.bias_md, bias));
    c.prim.execute(stream(), args);
    if (c.dst.reordered) reorder(c.dst.to_plain, dst, mem(c.dst.plain, out));
  } else if (c.pass == Pass::input_grad) {  // a = output-gradient chunk, b = blocked weights
    dnnl::memory diff_dst = blocked_input(c.dst, a, buf.dst);
    if (c.src.reordered) buf.src.resize(floats(c.src.blocked));
    dnnl::memory diff_src = c.src.reordered ? mem(c.src.blocked, buf.src.data()) : mem(c.src.plain, out);
    c.prim.execute(stream(), {{DNNL_ARG_DIFF_DST, diff_dst},
                              {DNNL_ARG_WEIGHTS, mem(c.wei.blocked, b)},
                              {DNNL_ARG_DIFF_SRC, diff_src},
                              {DNNL_ARG_SCRATCHPAD, scratch}});
    if (c.src.reordered) reorder(c.src.to_plain, diff_src, mem(c.src.plain, out));
  } else {  // a = x chunk, b = output-gradient chunk, out = this chunk's partial, blocked
    dnnl::memory src = blocked_input(c.src, a, buf.src);
    dnnl::memory diff_dst = blocked_input(c.dst, b, buf.dst);
    c.prim.execute(stream(), {{DNNL_ARG_SRC, src},
                              {DNNL_ARG_DIFF_DST, diff_dst},
                              {DNNL_ARG_DIFF_WEIGHTS, mem(c.wei.blocked, out)},
                              {DNNL_ARG_SCRATCHPAD, scratch}});
  }
  stream().wait();
}

// The same, oneDNN's errors (an allocation, say) as the op's.
void run_chunk(const Conv& c, const float* a, const float* b, const float* bias, float* out) {
  try {
    execute_chunk(c, a, b, bias, out);
  } catch (const dnnl::error& e) {
    const char* pass = c.pass == Pass::forward ? "conv2d" : c.pass == Pass::input_grad ? "conv2d_input_grad"
                                                                                        : "conv2d_weight_grad";
    throw Error(std::string(pass) + ": oneDNN's convolution failed on a chunk of images: " + e.what());
  }
}

// The chunks of a batch: [first(k), first(k + 1)) for k < conv_chunks(n), and their primitives
// (at most two chunk sizes), all made before anything runs.
struct Chunks {
  int64_t n, count;
  std::vector<const Conv*> conv;  // per chunk
  int64_t first(int64_t k) const { return n * k / count; }
};
bool make_chunks(Pass pass, const ConvGeometry& g, bool bias, Chunks& out) {
  if (!dnnl_conv_takes(g)) return false;
  out.n = g.n;
  out.count = conv_chunks(g.n);
  for (int64_t k = 0; k < out.count; ++k) {
    const Conv* c = conv_for(pass, g, out.first(k + 1) - out.first(k), bias);
    if (!c) return false;
    out.conv.push_back(c);
  }
  return true;
}

// The weights in each chunk primitive's layout (the same layout, in practice, for both sizes).
std::map<const Conv*, std::vector<float>> blocked_weights(const Chunks& chunks, const float* w) {
  std::map<const Conv*, std::vector<float>> out;
  OmpThreads omp(1);
  for (const Conv* c : chunks.conv) {
    if (out.count(c)) continue;
    std::vector<float>& blocked = out[c];
    if (!c->wei.reordered) {
      blocked.assign(w, w + floats(c->wei.plain));
      continue;
    }
    blocked.resize(floats(c->wei.blocked));
    reorder(c->wei.to_blocked, mem(c->wei.plain, w), mem(c->wei.blocked, blocked.data()));
  }
  stream().wait();
  return out;
}

}  // namespace

bool dnnl_conv_takes(const ConvGeometry& g) { return g.n >= 1 && g.o >= 16 && g.c >= 16; }

namespace {
// The forward and the input gradient: `in` (x or the output's gradient) chunk by chunk with the
// weights reordered once, into `out`; in_image and out_image are the floats of one image of each.
bool with_weights(Pass pass, const ConvGeometry& g, const float* in, int64_t in_image, const float* w,
                  const float* bias, float* out, int64_t out_image, int threads) {
  Chunks chunks;
  if (!make_chunks(pass, g, bias != nullptr, chunks)) return false;
  const auto weights = blocked_weights(chunks, w);
  for_parts(threads, chunks.count, [&](int64_t k, int) {
    const Conv* c = chunks.conv[static_cast<size_t>(k)];
    run_chunk(*c, in + chunks.first(k) * in_image, weights.at(c).data(), bias, out + chunks.first(k) * out_image);
  });
  dnnl_conv_count.fetch_add(chunks.count, std::memory_order_relaxed);
  return true;
}
}  // namespace

bool dnnl_conv2d(const ConvGeometry& g, const float* x, const float* w, const float* bias, float* y, int threads) {
  return with_weights(Pass::forward, g, x, g.c * g.h * g.w, w, bias, y, g.o * g.oh * g.ow, threads);
}

bool dnnl_conv2d_input_grad(const ConvGeometry& g, const float* gy, const float* w, float* gx, int threads) {
  return with_weights(Pass::input_grad, g, gy, g.o * g.oh * g.ow, w, nullptr, gx, g.c * g.h * g.w, threads);
}

bool dnnl_conv2d_weight_grad(const ConvGeometry& g, const float* x, const float* gy, float* gw, int threads) {
  Chunks chunks;
  if (!make_chunks(Pass::weight_grad, g, false, chunks)) return false;
  // The partials are added element by element, so every chunk must write the same layout.
  const Operand& layout = chunks.conv[0]->wei;
  for (const Conv* c : chunks.conv)
    if (c->wei.blocked != layout.blocked) return false;
  const size_t size = floats(layout.blocked);
  std::vector<float> partials(size * static_cast<size_t>(chunks.count));
  const int64_t image = g.c * g.h * g.w, out_image = g.o * g.oh * g.ow;
  for_parts(threads, chunks.count, [&](int64_t k, int) {
    run_chunk(*chunks.conv[static_cast<size_t>(k)], x + chunks.first(k) * image, gy + chunks.first(k) * out_image,
              nullptr, partials.data() + static_cast<size_t>(k) * size);
  });
  // In chunk order, whatever the thread count.
  float* sum = partials.data();
  for (int64_t k = 1; k < chunks.count; ++k) {
    const float* p = partials.data() + static_cast<size_t>(k) * size;
    for (size_t i = 0; i < size; ++i) sum[i] += p[i];
  }
  OmpThreads omp(1);
  if (layout.reordered) reorder(layout.to_plain, mem(layout.blocked, sum), mem(layout.plain, gw));
  else std::copy(sum, sum + size, gw);
  stream().wait();
  dnnl_conv_count.fetch_add(chunks.count, std::memory_order_relaxed);
  return true;
}

#else  // built without oneDNN: the im2col path computes everything

bool dnnl_conv_takes(const ConvGeometry&) { return false; }
bool dnnl_conv2d(const ConvGeometry&, const float*, const float*, const float*, float*, int) { return false; }
bool dnnl_conv2d_input_grad(const ConvGeometry&, const float*, const float*, float*, int) { return false; }
bool dnnl_conv2d_weight_grad(const ConvGeometry&, const float*, const float*, float*, int) { return false; }

#endif

}  // namespace tapegrad::detail
