// Question: how far is tapegrad's float32 LSTM forward + backward from the vendor RNN primitives
// on this CPU, at benchmarks/rnn_step.cpp's shape: LSTM(28, 128), batch 64, 28 steps, 1 and 2
// layers, one thread, backward giving the gradients of the input, the weights and the biases?
//
// Vendors, each optional at configure time (benchmarks/CMakeLists.txt):
// - oneDNN 2.6 (Debian's libdnnl-dev): lstm_forward (forward_training) + lstm_backward, one
//   single-layer primitive per layer (its "ref" RNN driver, the one oneDNN 2.6 has for f32
//   training, per ONEDNN_VERBOSE=1). One primitive for both layers cannot be described: its
//   weights_layer is one [layers, dirs, in, gates, hidden] tensor, one `in` for every layer, and
//   layer 1 reads 28 channels, layer 2 reads 128.
// - libxsmm 1.17 (Debian's libxsmm-dev, static libraries): libxsmm_dnn_rnncell with cell type
//   LSTM, NC activations and CK weights, FWD then BWDUPD, one handle per layer.
// Every primitive, handle, buffer and workspace is created before the timed loop, and a few
// untimed steps run first, so no first-call cost (oneDNN's JIT, libxsmm's code dispatch) is in
// the figure.
//
// Layouts: each vendor is timed with the data already in its own plain public layout (oneDNN:
// batch-first ntc activations, ldigo weights, ldgo bias; libxsmm: time-major NC, CK weights with
// gates i, c, f, o). Converting tapegrad's PyTorch-layout parameters ([4H, in], gates i, f, g, o)
// is done once in setup, so the vendor figures are a lower bound for a tapegrad backend built on
// them. Reorders a primitive asks for beyond that plain layout are in the timed loop, as in
// training the weights change every step: with format `any` oneDNN picks ldigo padded to 528
// columns for forward and a padded ldgoi for backward (counter reorders_per_step).
// tapegrad's input requires a gradient here, so it computes dL/dx as the vendors always do
// (rnn_step.cpp's BM_lstm_tapegrad does not, and is that much cheaper).
//
// Same work: setup copies tapegrad's parameters into each vendor and aborts unless the vendor's
// output and its gradients (input, weights, biases) match tapegrad's to 1e-4 (relative to the
// largest value of each tensor).
//
// Threads: Debian's libdnnl.so.2 is built with DNNL_CPU_RUNTIME=OMP (dnnl_config.h; ldd shows
// libgomp.so.1), the same GNU OpenMP runtime tapegrad links. oneDNN takes its thread count from
// OpenMP, so main() calls omp_set_num_threads(--threads, default 1) before any benchmark runs;
// OMP_NUM_THREADS would do the same. libxsmm's rnncell runs on the threads its caller gives it:
// the handle is created for one thread and executed with tid 0 from the benchmark thread.
//
// Facts checked for oneDNN 2.6 (what a float64 / higher-order tapegrad cannot get from it):
// - No float64 LSTM: dnnl_data_type_t in /usr/include/oneapi/dnnl/dnnl_types.h lists
//   f16, bf16, f32, s32, s8, u8 and no f64, so no primitive can take doubles. (dnnl_f64 comes in
//   oneDNN 3.0, whose data-type guide says "f64 is only supported for convolution primitive, on
//   the GPU engine".)
// - No double backward: lstm_backward is a fixed kernel with no differentiable form; its only
//   propagation kind is prop_kind::backward (dnnl.hpp, lstm_backward::desc), and oneDNN has no
//   primitive for the derivative of a backward pass. Gradients of gradients need a re-derivation.
// libxsmm 1.17's rnncell has kernels for f32 and bf16 only (nm /usr/lib/libxsmm.a: every
// libxsmm_dnn_rnncell_st_{fwd,bwdupd}_* ends in _f32_f32 or _bf16_bf16), and likewise only the
// FWD, BWD, UPD and BWDUPD kinds (libxsmm_dnn.h): no double backward either.
//
// Debian's libxsmm is built for baseline x86-64, so the rnncell's elementwise part (the gates'
// sigmoid and tanh) runs its portable scalar code, calling libm's double exp, expm1 and tanh per
// element: under perf, about 60% of its step is in libm. Its matrix products are JIT kernels for
// this CPU. Its figure is Debian's build, not what libxsmm built with -mavx512f would give.
#include <benchmark/benchmark.h>
#include <omp.h>

#include "main.h"
#include "models.h"

#ifdef TAPEGRAD_BENCH_ONEDNN
#include <oneapi/dnnl/dnnl.hpp>
#endif
#ifdef TAPEGRAD_BENCH_LIBXSMM
#include <libxsmm.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {
namespace tg = tapegrad;
using Clock = std::chrono::steady_clock;

constexpr int64_t kBatch = 64, kSteps = 28, kInput = 28, kHidden = 128, kGates = 4;
constexpr double kTolerance = 1e-4;

std::map<int64_t, double> tapegrad_ms;  // by layer count, for the ratios

void report(benchmark::State& s, Clock::time_point t0) {
  s.counters["ms_per_step"] = std::chrono::duration<double, std::milli>(Clock::now() - t0).count() / double(s.iterations());
}

void report_ratio(benchmark::State& s, int64_t layers) {
  if (tapegrad_ms.count(layers)) s.counters["tapegrad_over_this"] = tapegrad_ms[layers] / s.counters["ms_per_step"];
}

// [N, T, F] sequences: the Fashion-MNIST-like rows of bench::fixed_input, read row by row.
tg::Tensor sequences() { return tg::reshape(bench::fixed_input(kBatch, kSteps * kInput), {kBatch, kSteps, kInput}); }

tg::nn::LSTM make_lstm(int64_t layers, tg::Generator& gen) {
  return tg::nn::LSTM(kInput, kHidden, {.num_layers = layers, .batch_first = true, .generator = &gen});
}

void BM_lstm_tapegrad(benchmark::State& s) {
  const int64_t layers = s.range(0);
  tg::Generator gen(1);
  tg::nn::LSTM lstm = make_lstm(layers, gen);
  const tg::Tensor x = sequences().requires_grad(true);
  const tg::Tensor g = tg::ones({kBatch, kSteps, kHidden});
  auto run = [&] {
    auto [out, state] = lstm(x);
    out.backward(g);
  };
  for (int i = 0; i < 3; ++i) run();
  const auto t0 = Clock::now();
  for (auto _ : s) run();
  report(s, t0);
  tapegrad_ms[layers] = s.counters["ms_per_step"];
}

#if defined(TAPEGRAD_BENCH_ONEDNN) || defined(TAPEGRAD_BENCH_LIBXSMM)
// tapegrad's result for one forward + backward of the same layer: what each vendor must match.
struct Reference {
  std::vector<float> out;                      // [N, T, H]
  std::vector<float> dx;                       // [N, T, F]
  std::map<std::string, tg::Tensor> param;     // "weight_ih_l0" ...
  std::map<std::string, std::vector<float>> grad;
};

Reference reference(int64_t layers) {
  tg::Generator gen(1);
  tg::nn::LSTM lstm = make_lstm(layers, gen);
  const tg::Tensor x = sequences().requires_grad(true);
  auto [out, state] = lstm(x);
  out.backward(tg::ones({kBatch, kSteps, kHidden}));
  Reference r{out.to_vector<float>(), x.grad().to_vector<float>(), {}, {}};
  for (const auto& [name, p] : lstm.named_parameters()) {
    r.param[name] = p;
    r.grad[name] = p.grad().to_vector<float>();
  }
  return r;
}

// The parameter `what` ("weight_ih", ...) of `layer` as a vector, in PyTorch's layout.
std::vector<float> param(const Reference& r, const char* what, int64_t layer) {
  return r.param.at(std::string(what) + "_l" + std::to_string(layer)).to_vector<float>();
}

// Aborts unless `got` matches `want` to kTolerance of want's largest magnitude: the vendor must
// do the same work as tapegrad for the comparison to mean anything.
void expect_close(const char* vendor, const std::string& what, const std::vector<float>& got, const std::vector<float>& want) {
  if (got.size() != want.size()) {
    std::fprintf(stderr, "rnn_vendor: %s %s has %zu values, tapegrad's has %zu\n", vendor, what.c_str(), got.size(), want.size());
    std::abort();
  }
  double scale = 1.0, worst = 0.0;
  for (float w : want) scale = std::max(scale, double(std::fabs(w)));
  for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(double(got[i]) - double(want[i])));
  if (!(worst <= kTolerance * scale)) {
    std::fprintf(stderr, "rnn_vendor: %s %s differs from tapegrad's by %g (tolerance %g x max |value| %g)\n", vendor,
                 what.c_str(), worst, kTolerance, scale);
    std::abort();
  }
}
#endif

#ifdef TAPEGRAD_BENCH_ONEDNN
namespace dn = dnnl;
using tag = dn::memory::format_tag;
using dt = dn::memory::data_type;

// An LSTM of `layers` single-layer oneDNN primitives, with every memory and primitive made once.
// step() runs forward then backward as a flat list of primitive executions.
class OnednnLstm {
 public:
  OnednnLstm(const Reference& ref, int64_t layers) : engine_(dn::engine::kind::cpu, 0), stream_(engine_) {
    const dn::memory::desc none;  // zero descriptor: initial and final states are not used (zeros)
    const auto seq = [](int64_t c) { return dn::memory::desc({kSteps, kBatch, c}, dt::f32, tag::ntc); };
    std::vector<dn::memory> data{dn::memory(seq(kInput), engine_)};
    for (int64_t l = 0; l < layers; ++l) data.emplace_back(seq(kHidden), engine_);
    std::vector<dn::memory> diff_data;
    for (const dn::memory& m : data) diff_data.emplace_back(m.get_desc(), engine_);
    x_ = data.front();
    out_ = data.back();
    dx_ = diff_data.front();
    fill(diff_data.back(), 1.0f);  // dL/dout = ones, as tapegrad's out.backward(ones)

    // Each step: weights into the primitives' formats (pre), forward in layer order, backward in
    // reverse, weight gradients back into ldigo (post).
    std::vector<Op> fwd, bwd, pre, post;
    for (int64_t l = 0; l < layers; ++l) {
      const int64_t in = l == 0 ? kInput : kHidden;
      const dn::memory::desc w_layer_md({1, 1, in, kGates, kHidden}, dt::f32, tag::ldigo);
      const dn::memory::desc w_iter_md({1, 1, kHidden, kGates, kHidden}, dt::f32, tag::ldigo);
      const dn::memory::desc bias_md({1, 1, kGates, kHidden}, dt::f32, tag::ldgo);
      const dn::memory::desc any_w_layer({1, 1, in, kGates, kHidden}, dt::f32, tag::any);
      const dn::memory::desc any_w_iter({1, 1, kHidden, kGates, kHidden}, dt::f32, tag::any);
      Layer L;
      L.w_layer = dn::memory(w_layer_md, engine_);
      L.w_iter = dn::memory(w_iter_md, engine_);
      L.bias = dn::memory(bias_md, engine_);
      L.dw_layer = dn::memory(w_layer_md, engine_);
      L.dw_iter = dn::memory(w_iter_md, engine_);
      L.dbias = dn::memory(bias_md, engine_);
      load_weights(L.w_layer, param(ref, "weight_ih", l), in);
      load_weights(L.w_iter, param(ref, "weight_hh", l), kHidden);
      load_bias(L.bias, param(ref, "bias_ih", l), param(ref, "bias_hh", l));

      const dn::lstm_forward::primitive_desc fpd(
          dn::lstm_forward::desc(dn::prop_kind::forward_training, dn::rnn_direction::unidirectional_left2right,
                                 data[l].get_desc(), none, none, any_w_layer, any_w_iter, bias_md,
                                 data[l + 1].get_desc(), none, none),
          engine_);
      const dn::lstm_backward::primitive_desc bpd(
          dn::lstm_backward::desc(dn::prop_kind::backward, dn::rnn_direction::unidirectional_left2right,
                                  data[l].get_desc(), none, none, any_w_layer, any_w_iter, bias_md,
                                  data[l + 1].get_desc(), none, none, diff_data[l].get_desc(), none, none,
                                  any_w_layer, any_w_iter, bias_md, diff_data[l + 1].get_desc(), none, none),
          engine_, fpd);
      const dn::memory workspace(fpd.workspace_desc(), engine_);
      const dn::memory fw_layer = in_format(L.w_layer, fpd.weights_layer_desc(), pre);
      const dn::memory fw_iter = in_format(L.w_iter, fpd.weights_iter_desc(), pre);
      const dn::memory bw_layer = in_format(L.w_layer, bpd.weights_layer_desc(), pre);
      const dn::memory bw_iter = in_format(L.w_iter, bpd.weights_iter_desc(), pre);
      const dn::memory bdw_layer = out_format(bpd.diff_weights_layer_desc(), L.dw_layer, post);
      const dn::memory bdw_iter = out_format(bpd.diff_weights_iter_desc(), L.dw_iter, post);
      reorders_ += (fw_layer != L.w_layer) + (fw_iter != L.w_iter) + (bw_layer != L.w_layer) + (bw_iter != L.w_iter) +
                   (bdw_layer != L.dw_layer) + (bdw_iter != L.dw_iter);
      L.dw_native = {bdw_layer, bdw_iter};
      fwd.push_back({dn::lstm_forward(fpd),
                     {{DNNL_ARG_SRC_LAYER, data[l]},
                      {DNNL_ARG_WEIGHTS_LAYER, fw_layer},
                      {DNNL_ARG_WEIGHTS_ITER, fw_iter},
                      {DNNL_ARG_BIAS, L.bias},
                      {DNNL_ARG_DST_LAYER, data[l + 1]},
                      {DNNL_ARG_WORKSPACE, workspace}}});
      bwd.insert(bwd.begin(), Op{dn::lstm_backward(bpd),
                                 {{DNNL_ARG_SRC_LAYER, data[l]},
                                  {DNNL_ARG_WEIGHTS_LAYER, bw_layer},
                                  {DNNL_ARG_WEIGHTS_ITER, bw_iter},
                                  {DNNL_ARG_BIAS, L.bias},
                                  {DNNL_ARG_DST_LAYER, data[l + 1]},
                                  {DNNL_ARG_WORKSPACE, workspace},
                                  {DNNL_ARG_DIFF_DST_LAYER, diff_data[l + 1]},
                                  {DNNL_ARG_DIFF_SRC_LAYER, diff_data[l]},
                                  {DNNL_ARG_DIFF_WEIGHTS_LAYER, bdw_layer},
                                  {DNNL_ARG_DIFF_WEIGHTS_ITER, bdw_iter},
                                  {DNNL_ARG_DIFF_BIAS, L.dbias}}});
      layers_.push_back(std::move(L));
    }
    for (auto* list : {&pre, &fwd, &bwd, &post}) ops_.insert(ops_.end(), list->begin(), list->end());
    write(x_, ref_input());
  }

  /// One forward + backward over the batch.
  void step() {
    for (auto& op : ops_) op.p.execute(stream_, op.args);
    stream_.wait();
  }

  /// Zeroes the gradients. oneDNN's RNN backward adds to the diff weights (checked: a second step
  /// doubles them), as tapegrad's backward adds to .grad, so the timed loop zeroes neither.
  void zero_grad() {
    for (Layer& L : layers_)
      for (const dn::memory& m : {L.dw_layer, L.dw_iter, L.dbias, L.dw_native[0], L.dw_native[1]}) fill(m, 0.0f);
  }

  /// Reorders oneDNN needs in every step beyond the plain layouts (weights into its formats).
  int reorders() const { return reorders_; }

  /// Aborts unless the last step's output and gradients match tapegrad's.
  void check(const Reference& ref) const {
    expect_close("oneDNN", "output", read(out_), ref.out);
    expect_close("oneDNN", "input gradient", read(dx_), ref.dx);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      const std::string sfx = "_l" + std::to_string(l);
      const int64_t in = l == 0 ? kInput : kHidden;
      expect_close("oneDNN", "weight_ih" + sfx + " gradient", from_ldigo(read(L.dw_layer), in), ref.grad.at("weight_ih" + sfx));
      expect_close("oneDNN", "weight_hh" + sfx + " gradient", from_ldigo(read(L.dw_iter), kHidden), ref.grad.at("weight_hh" + sfx));
      // oneDNN has one bias per gate where PyTorch has two; both of PyTorch's get its gradient.
      expect_close("oneDNN", "bias_ih" + sfx + " gradient", read(L.dbias), ref.grad.at("bias_ih" + sfx));
      expect_close("oneDNN", "bias_hh" + sfx + " gradient", read(L.dbias), ref.grad.at("bias_hh" + sfx));
    }
  }

 private:
  struct Op {
    dn::primitive p;
    std::unordered_map<int, dn::memory> args;
  };
  struct Layer {
    dn::memory w_layer, w_iter, bias, dw_layer, dw_iter, dbias;  // plain ldigo / ldgo
    std::vector<dn::memory> dw_native;                           // backward's own diff-weights memories
  };

  static std::vector<float> ref_input() { return sequences().to_vector<float>(); }

  static void fill(const dn::memory& m, float v) {
    float* p = static_cast<float*>(m.get_data_handle());
    std::fill(p, p + m.get_desc().get_size() / sizeof(float), v);
  }
  static void write(const dn::memory& m, const std::vector<float>& v) {
    std::memcpy(m.get_data_handle(), v.data(), v.size() * sizeof(float));
  }
  static std::vector<float> read(const dn::memory& m) {
    const float* p = static_cast<const float*>(m.get_data_handle());
    return std::vector<float>(p, p + m.get_desc().get_size() / sizeof(float));
  }
  // PyTorch's [4H, in] (gates i, f, g, o) into ldigo [in][4][H]: oneDNN's gates are i, f, c~, o,
  // the same order, so this is a transpose.
  static void load_weights(const dn::memory& m, const std::vector<float>& w, int64_t in) {
    std::vector<float> v(w.size());
    for (int64_t go = 0; go < kGates * kHidden; ++go)
      for (int64_t i = 0; i < in; ++i) v[size_t(i * kGates * kHidden + go)] = w[size_t(go * in + i)];
    write(m, v);
  }
  static std::vector<float> from_ldigo(const std::vector<float>& v, int64_t in) {
    std::vector<float> w(v.size());
    for (int64_t go = 0; go < kGates * kHidden; ++go)
      for (int64_t i = 0; i < in; ++i) w[size_t(go * in + i)] = v[size_t(i * kGates * kHidden + go)];
    return w;
  }
  static void load_bias(const dn::memory& m, const std::vector<float>& b_ih, const std::vector<float>& b_hh) {
    std::vector<float> v(b_ih.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = b_ih[i] + b_hh[i];
    write(m, v);
  }
  // `user` as the primitive wants it: itself, or a copy that a reorder in `ops` refreshes.
  dn::memory in_format(const dn::memory& user, const dn::memory::desc& want, std::vector<Op>& ops) {
    if (user.get_desc() == want) return user;
    dn::memory m(want, engine_);
    ops.push_back({dn::reorder(user, m), {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}}});
    return m;
  }
  // Where the primitive writes a result that a reorder in `ops` copies into `user`.
  dn::memory out_format(const dn::memory::desc& have, const dn::memory& user, std::vector<Op>& ops) {
    if (user.get_desc() == have) return user;
    dn::memory m(have, engine_);
    ops.push_back({dn::reorder(m, user), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, user}}});
    return m;
  }

  dn::engine engine_;
  dn::stream stream_;
  dn::memory x_, out_, dx_;
  std::vector<Layer> layers_;
  std::vector<Op> ops_;
  int reorders_ = 0;
};

void BM_lstm_onednn(benchmark::State& s) {
  const int64_t layers = s.range(0);
  const Reference ref = reference(layers);
  OnednnLstm lstm(ref, layers);
  lstm.zero_grad();
  lstm.step();
  lstm.check(ref);
  for (int i = 0; i < 3; ++i) lstm.step();
  const auto t0 = Clock::now();
  for (auto _ : s) lstm.step();
  report(s, t0);
  report_ratio(s, layers);
  s.counters["reorders_per_step"] = lstm.reorders();
}
#endif

#ifdef TAPEGRAD_BENCH_LIBXSMM
// Aborts with libxsmm's message unless `status` is success.
void xsmm_check(libxsmm_dnn_err_t status, const char* what) {
  if (status != LIBXSMM_DNN_SUCCESS) {
    std::fprintf(stderr, "rnn_vendor: libxsmm %s: %s\n", what, libxsmm_dnn_get_error(status));
    std::abort();
  }
}

// A zeroed float buffer on a 64-byte boundary (libxsmm's kernels use aligned vector loads).
class XsmmBuffer {
 public:
  explicit XsmmBuffer(int64_t n = 0) : n_(size_t(n)) {
    if (n_ == 0) return;
    p_ = static_cast<float*>(libxsmm_aligned_malloc(n_ * sizeof(float), 64));
    std::fill(p_, p_ + n_, 0.0f);
  }
  XsmmBuffer(XsmmBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(o.n_) {}
  XsmmBuffer& operator=(XsmmBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  ~XsmmBuffer() { libxsmm_free(p_); }
  float* data() const { return p_; }
  size_t size() const { return n_; }
  std::vector<float> values() const { return std::vector<float>(p_, p_ + n_); }

 private:
  float* p_ = nullptr;
  size_t n_ = 0;
};

// PyTorch's gate g (i, f, g, o) is libxsmm's gate kXsmmGate[g] (i, c, f, o).
constexpr int64_t kXsmmGate[kGates] = {0, 2, 1, 3};

// An LSTM of `layers` libxsmm rnncell handles, each over all time steps, on time-major NC data.
class LibxsmmLstm {
 public:
  LibxsmmLstm(const Reference& ref, int64_t layers) {
    const int64_t TNK = kSteps * kBatch * kHidden;
    XsmmBuffer x(kSteps * kBatch * kInput), dx(kSteps * kBatch * kInput), dh_top(TNK);
    std::fill(dh_top.data(), dh_top.data() + TNK, 1.0f);  // dL/dout = ones
    // [N, T, F] into time-major [T, N, F]
    const std::vector<float> xs = sequences().to_vector<float>();
    for (int64_t n = 0; n < kBatch; ++n)
      for (int64_t t = 0; t < kSteps; ++t)
        std::copy_n(&xs[size_t((n * kSteps + t) * kInput)], kInput, x.data() + (t * kBatch + n) * kInput);
    dx_ = dx.data();
    for (int64_t l = 0; l < layers; ++l) {
      Layer L;
      const int64_t in = l == 0 ? kInput : kHidden;
      libxsmm_dnn_rnncell_desc d{};
      d.threads = 1;  // executed from the benchmark thread as tid 0
      d.N = kBatch;
      d.C = in;
      d.K = kHidden;
      d.max_T = kSteps;
      d.bn = kBatch;
      d.bc = in;
      d.bk = kHidden;
      d.cell_type = LIBXSMM_DNN_RNNCELL_LSTM;
      d.datatype_in = LIBXSMM_DNN_DATATYPE_F32;
      d.datatype_out = LIBXSMM_DNN_DATATYPE_F32;
      d.buffer_format = LIBXSMM_DNN_TENSOR_FORMAT_NC;
      d.filter_format = LIBXSMM_DNN_TENSOR_FORMAT_CK;
      libxsmm_dnn_err_t status;
      L.handle = libxsmm_dnn_create_rnncell(d, &status);
      xsmm_check(status, "create_rnncell");
      // PyTorch adds no constant to the forget gate's bias.
      xsmm_check(libxsmm_dnn_rnncell_allocate_forget_bias(L.handle, 0.0f), "allocate_forget_bias");

      const int64_t NK = kBatch * kHidden;
      L.own.emplace_back(in * kGates * kHidden);       // W
      L.own.emplace_back(kHidden * kGates * kHidden);  // R
      L.own.emplace_back(kGates * kHidden);            // b
      load_weights(L.own[0].data(), param(ref, "weight_ih", l), in);
      load_weights(L.own[1].data(), param(ref, "weight_hh", l), kHidden);
      load_bias(L.own[2].data(), param(ref, "bias_ih", l), param(ref, "bias_hh", l));
      const float* input = l == 0 ? x.data() : layers_.back().h;
      float* dinput = l == 0 ? dx.data() : layers_.back().dh;
      bind(L, LIBXSMM_DNN_RNN_REGULAR_INPUT, const_cast<float*>(input));
      bind(L, LIBXSMM_DNN_RNN_REGULAR_WEIGHT, L.own[0].data());
      bind(L, LIBXSMM_DNN_RNN_REGULAR_RECUR_WEIGHT, L.own[1].data());
      bind(L, LIBXSMM_DNN_RNN_REGULAR_BIAS, L.own[2].data());
      bind(L, LIBXSMM_DNN_RNN_GRADIENT_INPUT, dinput);
      // Zero initial states and zero gradient of the final cell state, as tapegrad's.
      for (libxsmm_dnn_tensor_type t : {LIBXSMM_DNN_RNN_REGULAR_CS_PREV, LIBXSMM_DNN_RNN_REGULAR_HIDDEN_STATE_PREV,
                                        LIBXSMM_DNN_RNN_GRADIENT_CS_PREV, LIBXSMM_DNN_RNN_GRADIENT_HIDDEN_STATE_PREV,
                                        LIBXSMM_DNN_RNN_GRADIENT_CS})
        bind(L, t, own(L, NK));
      for (libxsmm_dnn_tensor_type t : {LIBXSMM_DNN_RNN_REGULAR_CS, LIBXSMM_DNN_RNN_INTERNAL_I, LIBXSMM_DNN_RNN_INTERNAL_F,
                                        LIBXSMM_DNN_RNN_INTERNAL_O, LIBXSMM_DNN_RNN_INTERNAL_CI, LIBXSMM_DNN_RNN_INTERNAL_CO})
        bind(L, t, own(L, TNK));
      L.h = own(L, TNK);
      bind(L, LIBXSMM_DNN_RNN_REGULAR_HIDDEN_STATE, L.h);
      L.dh = l + 1 == layers ? dh_top.data() : own(L, TNK);
      bind(L, LIBXSMM_DNN_RNN_GRADIENT_HIDDEN_STATE, L.dh);
      L.dw = own(L, in * kGates * kHidden);
      L.dr = own(L, kHidden * kGates * kHidden);
      L.db = own(L, kGates * kHidden);
      bind(L, LIBXSMM_DNN_RNN_GRADIENT_WEIGHT, L.dw);
      bind(L, LIBXSMM_DNN_RNN_GRADIENT_RECUR_WEIGHT, L.dr);
      bind(L, LIBXSMM_DNN_RNN_GRADIENT_BIAS, L.db);

      const size_t scratch = libxsmm_dnn_rnncell_get_scratch_size(L.handle, LIBXSMM_DNN_COMPUTE_KIND_ALL, &status);
      xsmm_check(status, "get_scratch_size");
      L.scratch = own(L, int64_t(scratch / sizeof(float)) + 1);
      xsmm_check(libxsmm_dnn_rnncell_bind_scratch(L.handle, LIBXSMM_DNN_COMPUTE_KIND_ALL, L.scratch), "bind_scratch");
      const size_t state = libxsmm_dnn_rnncell_get_internalstate_size(L.handle, LIBXSMM_DNN_COMPUTE_KIND_ALL, &status);
      xsmm_check(status, "get_internalstate_size");
      if (state > 0) {
        L.state = own(L, int64_t(state / sizeof(float)) + 1);
        xsmm_check(libxsmm_dnn_rnncell_bind_internalstate(L.handle, LIBXSMM_DNN_COMPUTE_KIND_ALL, L.state), "bind_internalstate");
      }
      layers_.push_back(std::move(L));
    }
    inputs_.push_back(std::move(x));
    inputs_.push_back(std::move(dx));
    inputs_.push_back(std::move(dh_top));
  }
  LibxsmmLstm(const LibxsmmLstm&) = delete;
  LibxsmmLstm& operator=(const LibxsmmLstm&) = delete;
  ~LibxsmmLstm() {
    for (Layer& L : layers_) {
      for (auto& [type, tensor] : L.tensors) {
        libxsmm_dnn_rnncell_release_tensor(L.handle, type);
        libxsmm_dnn_destroy_tensor(tensor);
      }
      libxsmm_dnn_rnncell_release_scratch(L.handle, LIBXSMM_DNN_COMPUTE_KIND_ALL);
      if (L.state) libxsmm_dnn_rnncell_release_internalstate(L.handle, LIBXSMM_DNN_COMPUTE_KIND_ALL);
      libxsmm_dnn_destroy_rnncell(L.handle);
    }
  }

  /// One forward + backward over the batch: FWD in layer order, BWDUPD (input and weight
  /// gradients in one pass) in reverse.
  void step() {
    for (Layer& L : layers_) xsmm_check(libxsmm_dnn_rnncell_execute_st(L.handle, LIBXSMM_DNN_COMPUTE_KIND_FWD, 0, 0), "FWD");
    for (auto L = layers_.rbegin(); L != layers_.rend(); ++L)
      xsmm_check(libxsmm_dnn_rnncell_execute_st(L->handle, LIBXSMM_DNN_COMPUTE_KIND_BWDUPD, 0, 0), "BWDUPD");
  }

  /// Aborts unless the last step's output and gradients match tapegrad's.
  void check(const Reference& ref) const {
    expect_close("libxsmm", "output", batch_first(layers_.back().h, kHidden), ref.out);
    expect_close("libxsmm", "input gradient", batch_first(dx_, kInput), ref.dx);
    for (size_t l = 0; l < layers_.size(); ++l) {
      const Layer& L = layers_[l];
      const std::string sfx = "_l" + std::to_string(l);
      const int64_t in = l == 0 ? kInput : kHidden;
      expect_close("libxsmm", "weight_ih" + sfx + " gradient", from_ck(L.dw, in), ref.grad.at("weight_ih" + sfx));
      expect_close("libxsmm", "weight_hh" + sfx + " gradient", from_ck(L.dr, kHidden), ref.grad.at("weight_hh" + sfx));
      std::vector<float> db(size_t(kGates * kHidden));
      for (int64_t g = 0; g < kGates; ++g) std::copy_n(L.db + kXsmmGate[g] * kHidden, kHidden, &db[size_t(g * kHidden)]);
      expect_close("libxsmm", "bias_ih" + sfx + " gradient", db, ref.grad.at("bias_ih" + sfx));
    }
  }

 private:
  struct Layer {
    libxsmm_dnn_rnncell* handle = nullptr;
    std::vector<std::pair<libxsmm_dnn_tensor_type, libxsmm_dnn_tensor*>> tensors;
    std::vector<XsmmBuffer> own;
    float *h = nullptr, *dh = nullptr, *dw = nullptr, *dr = nullptr, *db = nullptr, *scratch = nullptr, *state = nullptr;
  };

  static float* own(Layer& L, int64_t n) {
    L.own.emplace_back(n);
    return L.own.back().data();
  }
  static void bind(Layer& L, libxsmm_dnn_tensor_type type, float* data) {
    libxsmm_dnn_err_t status;
    libxsmm_dnn_tensor_datalayout* layout = libxsmm_dnn_rnncell_create_tensor_datalayout(L.handle, type, &status);
    xsmm_check(status, "create_tensor_datalayout");
    libxsmm_dnn_tensor* tensor = libxsmm_dnn_link_tensor(layout, data, &status);
    xsmm_check(status, "link_tensor");
    libxsmm_dnn_destroy_tensor_datalayout(layout);
    xsmm_check(libxsmm_dnn_rnncell_bind_tensor(L.handle, tensor, type), "bind_tensor");
    L.tensors.emplace_back(type, tensor);
  }
  // PyTorch's [4H, in] (gates i, f, g, o) into CK [in][4H] (gates i, c, f, o).
  static void load_weights(float* ck, const std::vector<float>& w, int64_t in) {
    for (int64_t g = 0; g < kGates; ++g)
      for (int64_t o = 0; o < kHidden; ++o)
        for (int64_t i = 0; i < in; ++i)
          ck[i * kGates * kHidden + kXsmmGate[g] * kHidden + o] = w[size_t((g * kHidden + o) * in + i)];
  }
  static std::vector<float> from_ck(const float* ck, int64_t in) {
    std::vector<float> w(size_t(kGates * kHidden * in));
    for (int64_t g = 0; g < kGates; ++g)
      for (int64_t o = 0; o < kHidden; ++o)
        for (int64_t i = 0; i < in; ++i)
          w[size_t((g * kHidden + o) * in + i)] = ck[i * kGates * kHidden + kXsmmGate[g] * kHidden + o];
    return w;
  }
  static void load_bias(float* b, const std::vector<float>& b_ih, const std::vector<float>& b_hh) {
    for (int64_t g = 0; g < kGates; ++g)
      for (int64_t o = 0; o < kHidden; ++o)
        b[kXsmmGate[g] * kHidden + o] = b_ih[size_t(g * kHidden + o)] + b_hh[size_t(g * kHidden + o)];
  }
  // Time-major [T, N, F] as batch-first [N, T, F].
  static std::vector<float> batch_first(const float* tnf, int64_t f) {
    std::vector<float> v(size_t(kSteps * kBatch * f));
    for (int64_t t = 0; t < kSteps; ++t)
      for (int64_t n = 0; n < kBatch; ++n) std::copy_n(tnf + (t * kBatch + n) * f, f, &v[size_t((n * kSteps + t) * f)]);
    return v;
  }

  std::vector<Layer> layers_;
  std::vector<XsmmBuffer> inputs_;  // x, dx, dL/dout: shared between layers
  const float* dx_ = nullptr;
};

void BM_lstm_libxsmm(benchmark::State& s) {
  const int64_t layers = s.range(0);
  const Reference ref = reference(layers);
  LibxsmmLstm lstm(ref, layers);
  lstm.step();
  lstm.step();  // a second step: libxsmm overwrites the gradients and keeps its inputs
  lstm.check(ref);
  for (int i = 0; i < 3; ++i) lstm.step();
  const auto t0 = Clock::now();
  for (auto _ : s) lstm.step();
  report(s, t0);
  report_ratio(s, layers);
}
#endif

}  // namespace

BENCHMARK(BM_lstm_tapegrad)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
#ifdef TAPEGRAD_BENCH_ONEDNN
BENCHMARK(BM_lstm_onednn)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
#ifdef TAPEGRAD_BENCH_LIBXSMM
BENCHMARK(BM_lstm_libxsmm)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
#endif

int main(int argc, char** argv) {
  bench::MainOptions o;
  // oneDNN (OpenMP build) and libxsmm's threads follow --threads like tapegrad's.
  o.before_initialize = [](int threads) { omp_set_num_threads(threads); };
  o.after_initialize = [](int) {
#ifdef TAPEGRAD_BENCH_ONEDNN
    const dnnl_version_t* v = dnnl_version();
    benchmark::AddCustomContext("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                              std::to_string(v->patch) + " cpu_runtime=" +
                                              (v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : "other"));
#endif
    benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  };
  return bench::run_main(argc, argv, o);
}
