// Question: would calling oneDNN's convolution primitives directly beat tapegrad's im2col
// convolution for the layers of the CNN (`tapegrad-train --model cnn`, batch 64)? Both of its
// layers (3x3, stride 1, padding 1, with bias; x [64, 1, 28, 28] by [32, 1, 3, 3], and
// x [64, 32, 14, 14] by [64, 32, 3, 3]), one thread, per pass: forward, backward-data (dx),
// backward-weights (dW and db) and all three in one call, through
//   tapegrad             tg::conv2d and its gradient ops (conv2d_input_grad, conv2d_weight_grad,
//                        conv2d_bias_grad), reached through tg::grad
//   onednn_plain         oneDNN 2.6's primitives reading and writing NCHW/OIHW (tags nchw, oihw)
//   onednn_any           the same primitives in the layouts they choose (tag any), the operands
//                        reordered once before timing
//   onednn_any_reorders  the same, timing with each call the reorders from and to float32
//                        NCHW/OIHW that a drop-in replacement of conv2d's ops would pay (per op:
//                        the forward and the two backward ops each reorder their own operands)
// in float32 and with bfloat16 operands and float32 results (_bf16; tapegrad's under
// tg::AutocastGuard, which rounds its float32 tensors inside the ops). A bfloat16 row that times
// reorders times the conversion from float32 in them, as a drop-in under autocast would pay it;
// onednn_plain_reorders_bf16 times that conversion alone, with plain layouts.
//
// The primitives (forward_training, the direct algorithm, the forward primitive descriptor as the
// backward ones' hint) are made once, outside the timed loop, and each backend's results are
// checked once, before timing, against tapegrad's float64 results from the same operands
// (max |error| / max |reference| at most 1e-4, 2^-6 with bfloat16 operands): a backend that
// disagrees fails its benchmark instead of being timed.
//
// Threads: Debian's oneDNN takes its thread count from GNU OpenMP, so main() sets it to one before
// anything else; tapegrad takes --threads, which must be 1.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fma_peak.h"
#include "gemm_paths.h"
#include "main.h"
#include "models.h"

namespace {
namespace tg = tapegrad;
using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

// A layer of the net: x [n, c, h, w] by a 3x3 weight [o, c, 3, 3], stride 1, padding 1.
struct Layer {
  const char* name;
  int64_t n, c, h, w, o;
  double flops() const { return 2.0 * double(n * o * c * 9) * double(h * w); }  // one pass
};
constexpr Layer kLayers[] = {{"layer1", 64, 1, 28, 28, 32}, {"layer2", 64, 32, 14, 14, 64}};
constexpr tg::Conv2dOptions kConv{.padding = 1};

enum class Pass { forward, backward_data, backward_weights, all };
constexpr std::pair<Pass, const char*> kPasses[] = {{Pass::forward, "forward"},
                                                    {Pass::backward_data, "backward_data"},
                                                    {Pass::backward_weights, "backward_weights"},
                                                    {Pass::all, "all"}};
bool computes_y(Pass p) { return p == Pass::forward || p == Pass::all; }
bool computes_dx(Pass p) { return p == Pass::backward_data || p == Pass::all; }
bool computes_dw(Pass p) { return p == Pass::backward_weights || p == Pass::all; }
double flops(const Layer& l, Pass p) { return (p == Pass::all ? 3 : 1) * l.flops(); }

// The results a pass may compute, each checked against its float64 reference.
enum Quantity { kY, kDx, kDw, kDb };
constexpr const char* kQuantityNames[] = {"y", "dx", "dW", "db"};

double peak = 0;  // measured float32 FMA GFLOP/s, one thread

// A [dims] float32 tensor of bench::fixed_input's values.
tg::Tensor fixed(const std::vector<int64_t>& dims, uint64_t seed) {
  int64_t rest = 1;
  for (size_t i = 1; i < dims.size(); ++i) rest *= dims[i];
  return tg::reshape(bench::fixed_input(dims[0], rest, tg::Dtype::f32, seed), dims);
}

// A layer's operands, the output's gradient g (the upstream of the backward passes), and
// tapegrad's float64 results from them.
struct Operands {
  Layer l;
  tg::Tensor x, w, b, g;
  std::array<std::vector<double>, 4> ref;  // by Quantity
  explicit Operands(const Layer& layer)
      : l(layer),
        x(fixed({l.n, l.c, l.h, l.w}, 1)),
        w(fixed({l.o, l.c, 3, 3}, 2)),
        b(fixed({l.o}, 3)),
        g(fixed({l.n, l.o, l.h, l.w}, 4)) {
    const tg::Tensor x64 = x.to(tg::Dtype::f64).requires_grad(true), w64 = w.to(tg::Dtype::f64).requires_grad(true),
                     b64 = b.to(tg::Dtype::f64).requires_grad(true);
    const tg::Tensor y = tg::conv2d(x64, w64, b64, kConv);
    const std::vector<tg::Tensor> d = tg::grad(y, {x64, w64, b64}, {.grad_output = g.to(tg::Dtype::f64)});
    ref = {y.to_vector<double>(), d[0].to_vector<double>(), d[1].to_vector<double>(), d[2].to_vector<double>()};
  }
};

// Shared by the backends of a layer; map nodes do not move, so backends may keep a reference.
const Operands& operands(const Layer& l) {
  static std::map<std::string, Operands> made;
  return made.try_emplace(l.name, l).first->second;
}

// One of a pass's results, float32 in the reference's layout (NCHW, OIHW).
struct Result {
  Quantity q;
  const float* values;
};

// A backend set up for one pass of one layer: run() computes the pass, results() then returns what
// it computed; without run, label says why the backend cannot do this pass.
struct Backend {
  std::function<void()> run;
  std::function<std::vector<Result>()> results;
  std::string label;
};

// The pass through tapegrad's ops, in float32 or under autocast to bfloat16. Each backward pass
// has its own leaves, so that it computes only the gradients it times (an op's backward computes
// those of the inputs that require them), from a forward recorded once and kept (retain_graph).
Backend tapegrad_conv(const Operands& o, Pass pass, tg::Dtype precision) {
  auto leaf = [](const tg::Tensor& t, bool grad) { return grad ? t.detach().clone().requires_grad(true) : t; };
  const tg::Tensor x = leaf(o.x, computes_dx(pass)), w = leaf(o.w, computes_dw(pass)), b = leaf(o.b, computes_dw(pass));
  std::vector<tg::Tensor> wrt;
  if (computes_dx(pass)) wrt.push_back(x);
  if (computes_dw(pass)) wrt.insert(wrt.end(), {w, b});
  struct State {
    tg::Tensor y;
    std::vector<tg::Tensor> grads;
  };
  auto st = std::make_shared<State>();
  if (!computes_y(pass)) {
    const tg::AutocastGuard autocast(precision);
    st->y = tg::conv2d(x, w, b, kConv);
  }
  auto run = [=, &o] {
    const tg::AutocastGuard autocast(precision);
    if (computes_y(pass)) st->y = tg::conv2d(x, w, b, kConv);
    if (pass != Pass::forward)
      st->grads = tg::grad(st->y, wrt, {.retain_graph = pass != Pass::all, .grad_output = o.g});
  };
  auto results = [=] {
    std::vector<Result> r;
    if (computes_y(pass)) r.push_back({kY, st->y.data<float>()});
    size_t i = 0;
    if (computes_dx(pass)) r.push_back({kDx, st->grads[i++].data<float>()});
    if (computes_dw(pass)) {
      r.push_back({kDw, st->grads[i++].data<float>()});
      r.push_back({kDb, st->grads[i++].data<float>()});
    }
    return r;
  };
  // The float32 products' backend is a function of the shapes, so this first call's is the timed
  // one's; the counts leave autocast's bfloat16 products out, which take tg::bf16_path().
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  run();
  const std::string products =
      precision == tg::Dtype::bf16 ? tg::bf16_path() : bench::gemm_paths(before, tg::gemm_path_counts());
  return {run, results, "im2col + " + products};
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// How oneDNN is called: the operands' type (float32, or bfloat16 with float32 results), the
// layouts (plain NCHW/OIHW, or the primitives' choice), and whether the reorders between those and
// tapegrad's float32 NCHW/OIHW tensors are timed with each call or done once beforehand.
struct OnednnConfig {
  dt type;
  bool any;
  bool timed_reorders;
};

// One pass of a layer through oneDNN's primitives: `timed` is what a call executes, `unpack` the
// reorders of the results to plain float32 that are not timed, run before checking them.
struct OnednnConv {
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
  };
  OnednnConfig cfg;
  dnnl::stream stream{engine()};
  std::vector<Step> timed, unpack;
  std::vector<std::pair<Quantity, dnnl::memory>> outputs;  // float32 NCHW/OIHW
  std::vector<std::string> impls;                          // each primitive's implementation

  OnednnConv(const Operands& o, Pass pass, OnednnConfig c);

  void run() {
    for (Step& s : timed) s.primitive.execute(stream, s.args);
    stream.wait();
  }

  std::vector<Result> results() {
    for (Step& s : unpack) s.primitive.execute(stream, s.args);
    stream.wait();
    std::vector<Result> r;
    for (const auto& [q, m] : outputs) r.push_back({q, static_cast<const float*>(m.get_data_handle())});
    return r;
  }

  // `user` as the primitive reads it (`want`): itself, or a reorder of it, timed or run now.
  dnnl::memory input(const dnnl::memory& user, const dnnl::memory::desc& want) {
    if (user.get_desc() == want) return user;
    dnnl::memory m(want, engine());
    Step r{dnnl::reorder(user, m), {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, m}}};
    if (cfg.timed_reorders) {
      timed.push_back(std::move(r));
    } else {
      r.primitive.execute(stream, r.args);
      stream.wait();
    }
    return m;
  }

  // Where the primitive writes result q (`have`), reordered to a new plain memory (`plain`) by a
  // step appended to `after` (the primitive's own step goes first) when timed, else to `unpack`.
  dnnl::memory output(Quantity q, const dnnl::memory::desc& plain, const dnnl::memory::desc& have,
                      std::vector<Step>& after) {
    const dnnl::memory user(plain, engine());
    outputs.emplace_back(q, user);
    if (have == plain) return user;
    dnnl::memory m(have, engine());
    (cfg.timed_reorders ? after : unpack)
        .push_back({dnnl::reorder(m, user), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, user}}});
    return m;
  }

  // The primitive's step, then the reorders of its results that are timed.
  void add(dnnl::primitive p, std::unordered_map<int, dnnl::memory> args, std::vector<Step>& after,
           const char* impl) {
    timed.push_back({std::move(p), std::move(args)});
    timed.insert(timed.end(), after.begin(), after.end());
    impls.emplace_back(impl);
  }
};

OnednnConv::OnednnConv(const Operands& o, Pass pass, OnednnConfig c) : cfg(c) {
  using dnnl::memory;
  const Layer& l = o.l;
  const memory::dims xd{l.n, l.c, l.h, l.w}, wd{l.o, l.c, 3, 3}, bd{l.o}, yd{l.n, l.o, l.h, l.w};
  const memory::dims stride{1, 1}, pad{1, 1};
  auto plain = [](const memory::dims& d, tag t) { return memory::desc(d, dt::f32, t); };
  auto wanted = [&](const memory::dims& d, dt type, tag t) { return memory::desc(d, type, cfg.any ? tag::any : t); };
  auto user = [&](const tg::Tensor& t, const memory::dims& d, tag f) {
    return memory(plain(d, f), engine(), const_cast<float*>(t.data<float>()));
  };
  const memory x = user(o.x, xd, tag::nchw), w = user(o.w, wd, tag::oihw), b = user(o.b, bd, tag::x),
               g = user(o.g, yd, tag::nchw);
  const dnnl::convolution_forward::primitive_desc fwd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                      wanted(xd, cfg.type, tag::nchw), wanted(wd, cfg.type, tag::oihw),
                                      plain(bd, tag::x), wanted(yd, dt::f32, tag::nchw), stride, pad, pad),
      engine());
  if (computes_y(pass)) {
    std::vector<Step> after;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, input(x, fwd.src_desc())},
                                         {DNNL_ARG_WEIGHTS, input(w, fwd.weights_desc())},
                                         {DNNL_ARG_BIAS, input(b, fwd.bias_desc())},
                                         {DNNL_ARG_DST, output(kY, plain(yd, tag::nchw), fwd.dst_desc(), after)}};
    add(dnnl::convolution_forward(fwd), std::move(args), after, fwd.impl_info_str());
  }
  if (computes_dx(pass)) {
    const dnnl::convolution_backward_data::primitive_desc bwd(
        dnnl::convolution_backward_data::desc(dnnl::algorithm::convolution_direct, wanted(xd, dt::f32, tag::nchw),
                                              wanted(wd, cfg.type, tag::oihw), wanted(yd, cfg.type, tag::nchw),
                                              stride, pad, pad),
        engine(), fwd);
    std::vector<Step> after;
    std::unordered_map<int, memory> args{
        {DNNL_ARG_DIFF_DST, input(g, bwd.diff_dst_desc())},
        {DNNL_ARG_WEIGHTS, input(w, bwd.weights_desc())},
        {DNNL_ARG_DIFF_SRC, output(kDx, plain(xd, tag::nchw), bwd.diff_src_desc(), after)}};
    add(dnnl::convolution_backward_data(bwd), std::move(args), after, bwd.impl_info_str());
  }
  if (computes_dw(pass)) {
    const dnnl::convolution_backward_weights::primitive_desc bwd(
        dnnl::convolution_backward_weights::desc(dnnl::algorithm::convolution_direct,
                                                 wanted(xd, cfg.type, tag::nchw), wanted(wd, dt::f32, tag::oihw),
                                                 plain(bd, tag::x), wanted(yd, cfg.type, tag::nchw), stride, pad,
                                                 pad),
        engine(), fwd);
    std::vector<Step> after;
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, input(x, bwd.src_desc())},
        {DNNL_ARG_DIFF_DST, input(g, bwd.diff_dst_desc())},
        {DNNL_ARG_DIFF_WEIGHTS, output(kDw, plain(wd, tag::oihw), bwd.diff_weights_desc(), after)},
        {DNNL_ARG_DIFF_BIAS, output(kDb, plain(bd, tag::x), bwd.diff_bias_desc(), after)}};
    add(dnnl::convolution_backward_weights(bwd), std::move(args), after, bwd.impl_info_str());
  }
}

// The pass through oneDNN, labelled with the implementations oneDNN picked (forward, backward-data,
// backward-weights, as the pass runs them) and the reorders timed.
Backend onednn_conv(const Operands& o, Pass pass, OnednnConfig cfg) {
  std::shared_ptr<OnednnConv> conv;
  try {
    conv = std::make_shared<OnednnConv>(o, pass, cfg);
  } catch (const dnnl::error& e) {
    return {nullptr, nullptr, std::string("oneDNN has no primitive for this pass here: ") + e.what()};
  }
  std::string label;
  for (const std::string& impl : conv->impls) label += (label.empty() ? "" : " / ") + impl;
  if (cfg.timed_reorders)
    label += " + " + std::to_string(conv->timed.size() - conv->impls.size()) + " reorders";
  return {[conv] { conv->run(); }, [conv] { return conv->results(); }, label};
}

// The largest max |result - reference| / max |reference| over the pass's results, and its name.
std::pair<double, std::string> worst_error(const Operands& o, const std::vector<Result>& results) {
  std::pair<double, std::string> worst{0, ""};
  for (const Result& r : results) {
    const std::vector<double>& ref = o.ref[r.q];
    double scale = 0, err = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      scale = std::max(scale, std::fabs(ref[i]));
      err = std::max(err, std::fabs(double(r.values[i]) - ref[i]));
    }
    // A NaN compares false: counted as the worst.
    const double rel = err / scale;
    if (!(rel <= worst.first))
      worst = {std::isnan(rel) ? std::numeric_limits<double>::infinity() : rel, kQuantityNames[r.q]};
  }
  return worst;
}

struct BackendSpec {
  std::string name;
  double tolerance;
  std::function<Backend(const Operands&, Pass)> setup;
};

// BM_conv_backend/<backend>/<layer>/<pass>, registered layer by layer and pass by pass so that the
// backends of one pass are listed together. The backend is set up and checked on the benchmark's
// first call only: Google Benchmark calls it again while sizing the iteration count.
void register_backends(const std::vector<BackendSpec>& specs) {
  for (const Layer& layer : kLayers)
    for (const auto& [pass, pass_name] : kPasses)
      for (const BackendSpec& spec : specs) {
        const std::string id = spec.name + "/" + layer.name + "/" + pass_name;
        struct Made {
          Backend backend;
          std::pair<double, std::string> error;
        };
        auto made = std::make_shared<std::optional<Made>>();
        benchmark::RegisterBenchmark(("BM_conv_backend/" + id).c_str(), [=, p = pass](benchmark::State& s) {
          const Operands& o = operands(layer);
          if (!*made) {
            Made m{spec.setup(o, p), {0, ""}};
            if (m.backend.run) {
              m.backend.run();
              m.error = worst_error(o, m.backend.results());
            }
            *made = std::move(m);
          }
          const auto& [b, error] = **made;
          if (!b.run) return s.SkipWithError(b.label.c_str());
          if (!(error.first <= spec.tolerance)) {
            const std::string what = id + ": max |" + error.second + " - reference| = " + std::to_string(error.first) +
                                     " x max |reference|, above " + std::to_string(spec.tolerance);
            return s.SkipWithError(what.c_str());
          }
          for (auto _ : s) b.run();
          const double f = flops(layer, p);
          s.counters["ms"] = benchmark::Counter(1e-3, benchmark::Counter::kIsIterationInvariantRate |
                                                           benchmark::Counter::kInvert);
          s.counters["GFLOPs"] = benchmark::Counter(f * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
          s.counters["pct_of_peak"] =
              benchmark::Counter(100 * f * 1e-9 / peak, benchmark::Counter::kIsIterationInvariantRate);
          s.counters["max_rel_error"] = error.first;
          s.SetLabel(b.label);
        })->UseRealTime()->Unit(benchmark::kMillisecond);
      }
}

// oneDNN's own reading of the processor, as autograd/src/ops/gemm_bf16.cpp decides with it.
bool has_bf16_units() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}

}  // namespace

int main(int argc, char** argv) {
  omp_set_num_threads(1);
  bench::MainOptions o;
  o.before_initialize = [](int threads) {
    if (threads != 1) {
      std::fprintf(stderr, "conv_backends: measures one thread; --threads=%d is not supported\n", threads);
      std::exit(2);
    }
    for (int r = 0; r < 5; ++r) peak = std::max(peak, bench::measured_fma_peak(true, 1));
    // 2^-6: bfloat16 keeps 8 significant bits, and the sums run in float32.
    constexpr double kF32 = 1e-4, kBf16 = 1.0 / 64;
    auto tapegrad = [](tg::Dtype d) { return [d](const Operands& op, Pass p) { return tapegrad_conv(op, p, d); }; };
    auto onednn = [](OnednnConfig c) { return [c](const Operands& op, Pass p) { return onednn_conv(op, p, c); }; };
    register_backends({{"tapegrad", kF32, tapegrad(tg::Dtype::f32)},
                       {"onednn_plain", kF32, onednn({dt::f32, false, false})},
                       {"onednn_any", kF32, onednn({dt::f32, true, false})},
                       {"onednn_any_reorders", kF32, onednn({dt::f32, true, true})},
                       {"tapegrad_bf16", kBf16, tapegrad(tg::Dtype::bf16)},
                       {"onednn_plain_bf16", kBf16, onednn({dt::bf16, false, false})},
                       {"onednn_plain_reorders_bf16", kBf16, onednn({dt::bf16, false, true})},
                       {"onednn_any_bf16", kBf16, onednn({dt::bf16, true, false})},
                       {"onednn_any_reorders_bf16", kBf16, onednn({dt::bf16, true, true})}});
  };
  o.after_initialize = [](int) {
    const dnnl_version_t* v = dnnl_version();
    benchmark::AddCustomContext("onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
                                              std::to_string(v->patch));
    benchmark::AddCustomContext("onednn_bf16_units", has_bf16_units() ? "yes" : "no");
    benchmark::AddCustomContext("fma_peak_f32_GFLOPs", std::to_string(peak));
    benchmark::AddCustomContext("omp_max_threads", std::to_string(omp_get_max_threads()));
  };
  return bench::run_main(argc, argv, o);
}
