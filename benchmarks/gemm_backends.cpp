// Question: which matrix-product backend for which shape class? C = A B, row-major, float32, one
// thread, at the (m,k,n) of the nets users train, through each candidate side by side in one
// process: libxsmm 1.17's JIT kernels, Eigen 3's GEMM, oneDNN 2.6's dnnl_sgemm and its matmul
// primitive (float32; and bfloat16 operands with a float32 result where oneDNN finds bfloat16
// units), and tg::matmul, labelled with the path tapegrad's dispatch took. docs/performance.md's
// "Matrix-product backends per shape" table is made from this program's results.
//
// Each backend is set up once per shape, outside the timed loop (libxsmm's JIT dispatch, oneDNN's
// primitive, the bfloat16 conversion), and its result checked against a float64 product of the
// same operands first (max |error| / max |C| < 1e-4, 1e-2 with bfloat16 operands): the figures are
// of the same work.
//
// oneDNN's matmul reads plain row-major operands (format tag ab), not a layout of its choosing:
// in training the weights change every step, so a blocked layout would cost a reorder per step.
//
// Threads: Debian's oneDNN takes its thread count from GNU OpenMP, so main() sets it to one before
// anything else; Eigen is told directly, tapegrad by --threads, which must be 1.
#include <benchmark/benchmark.h>
#include <libxsmm.h>
#include <omp.h>

#include <Eigen/Core>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "fma_peak.h"
#include "gemm_paths.h"
#include "main.h"
#include "models.h"

namespace {
namespace tg = tapegrad;
using dt = dnnl::memory::data_type;

struct Shape {
  int64_t m, k, n;
};
constexpr Shape kShapes[] = {{100, 784, 50},  {256, 784, 512}, {256, 512, 512},
                             {256, 512, 10}, {64, 3136, 128}, {1024, 1024, 1024}};

double peak = 0;  // measured float32 FMA GFLOP/s, one thread

// One shape's operands (bench::fixed_input, as in gemm.cpp) and their product in float64.
struct Operands {
  Shape s;
  tg::Tensor a, b;
  std::vector<double> ref;
  explicit Operands(Shape shape)
      : s(shape),
        a(bench::fixed_input(s.m, s.k, tg::Dtype::f32, 1)),
        b(bench::fixed_input(s.k, s.n, tg::Dtype::f32, 2)),
        ref(size_t(s.m * s.n)) {
    const float *pa = a.data<float>(), *pb = b.data<float>();
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t p = 0; p < s.k; ++p)
        for (int64_t j = 0; j < s.n; ++j) ref[size_t(i * s.n + j)] += double(pa[i * s.k + p]) * pb[p * s.n + j];
  }
  const float* A() const { return a.data<float>(); }
  const float* B() const { return b.data<float>(); }
};

// Shared by the backends of a shape; map nodes do not move, so backends may keep a reference.
const Operands& operands(const Shape& s) {
  static std::map<std::tuple<int64_t, int64_t, int64_t>, Operands> made;
  return made.try_emplace({s.m, s.k, s.n}, s).first->second;
}

// A backend set up for one shape: run() computes C and returns it; without run, label says why
// the backend cannot do this shape.
struct Backend {
  std::function<const float*()> run;
  std::string label;
};

Backend libxsmm(const Operands& o) {
  static const bool initialised = (libxsmm_init(), true);
  (void)initialised;
  // Row-major C = A B as column-major C^T = B^T A^T (autograd/src/ops/gemm.cpp): each row-major
  // operand's storage is its transpose in column-major.
  const auto M = libxsmm_blasint(o.s.n), N = libxsmm_blasint(o.s.m), K = libxsmm_blasint(o.s.k);
  const float alpha = 1, beta = 0;
  const int flags = LIBXSMM_GEMM_FLAG_NONE;
  const libxsmm_smmfunction f = libxsmm_smmdispatch(M, N, K, &M, &K, &M, &alpha, &beta, &flags, nullptr);
  if (!f) return {nullptr, "libxsmm_smmdispatch returned no kernel"};
  return {[f, &o, c = std::vector<float>(size_t(o.s.m * o.s.n))]() mutable {
            f(o.B(), o.A(), c.data());
            return c.data();
          },
          "libxsmm JIT"};
}

Backend eigen(const Operands& o) {
  using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  return {[&o, c = RowMajor(o.s.m, o.s.n)]() mutable {
            c.noalias() = Eigen::Map<const RowMajor>(o.A(), o.s.m, o.s.k) * Eigen::Map<const RowMajor>(o.B(), o.s.k, o.s.n);
            return c.data();
          },
          "Eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
              std::to_string(EIGEN_MINOR_VERSION)};
}

Backend onednn_sgemm(const Operands& o) {
  return {[&o, c = std::vector<float>(size_t(o.s.m * o.s.n))]() mutable {
            dnnl_sgemm('N', 'N', o.s.m, o.s.n, o.s.k, 1.f, o.A(), o.s.k, o.B(), o.s.n, 0.f, c.data(), o.s.n);
            return c.data();
          },
          "dnnl_sgemm"};
}

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// oneDNN's matmul primitive with operands of type `in` (converted from the float32 operands once,
// here) and a float32 result. Labelled with the implementation oneDNN picked (ISA included).
Backend onednn_matmul(const Operands& o, dt in) {
  using tag = dnnl::memory::format_tag;
  const dnnl::memory::desc a_md({o.s.m, o.s.k}, in, tag::ab), b_md({o.s.k, o.s.n}, in, tag::ab),
      c_md({o.s.m, o.s.n}, dt::f32, tag::ab);
  dnnl::stream stream(engine());
  auto converted = [&](const float* from, const dnnl::memory::desc& md) {
    dnnl::memory src({md.dims(), dt::f32, tag::ab}, engine(), const_cast<float*>(from)), dst(md, engine());
    dnnl::reorder(src, dst).execute(stream, src, dst);
    return dst;
  };
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_md, b_md, c_md), engine());
  const dnnl::memory c(c_md, engine());
  std::unordered_map<int, dnnl::memory> args{
      {DNNL_ARG_SRC, converted(o.A(), a_md)}, {DNNL_ARG_WEIGHTS, converted(o.B(), b_md)}, {DNNL_ARG_DST, c}};
  stream.wait();
  return {[prim = dnnl::matmul(pd), stream, args, c]() mutable {
            prim.execute(stream, args);
            stream.wait();
            return static_cast<const float*>(c.get_data_handle());
          },
          std::string("oneDNN matmul ") + pd.impl_info_str()};
}

Backend tapegrad_matmul(const Operands& o) {
  // The dispatch is a function of the shape, so the path of this first call is the timed one's.
  const tg::GemmPathCounts before = tg::gemm_path_counts();
  tg::Tensor c = tg::matmul(o.a, o.b);
  return {[&o, c]() mutable {
            c = tg::matmul(o.a, o.b);
            return c.data<float>();
          },
          "tg::matmul " + bench::gemm_paths(before, tg::gemm_path_counts())};
}

// Aborts unless `c` is the float64 product to `tolerance` of its largest magnitude.
void check(const std::string& id, const Operands& o, const float* c, double tolerance) {
  double scale = 0, worst = 0;
  for (size_t i = 0; i < o.ref.size(); ++i) {
    scale = std::max(scale, std::fabs(o.ref[i]));
    worst = std::max(worst, std::fabs(double(c[i]) - o.ref[i]));
  }
  if (!(worst <= tolerance * scale)) {
    std::fprintf(stderr, "gemm_backends: %s: max |C - C_f64| = %g exceeds %g x max |C_f64| (%g)\n", id.c_str(), worst,
                 tolerance, scale);
    std::abort();
  }
}

// BM_gemm_backend/<name>/<m>x<k>x<n> for every shape. The backend is set up and checked on the
// benchmark's first call only: Google Benchmark calls it again while sizing the iteration count.
template <class Setup>
void register_backend(const std::string& name, double tolerance, Setup setup) {
  for (const Shape& sh : kShapes) {
    const std::string id = name + "/" + std::to_string(sh.m) + "x" + std::to_string(sh.k) + "x" + std::to_string(sh.n);
    auto made = std::make_shared<std::optional<Backend>>();
    benchmark::RegisterBenchmark(("BM_gemm_backend/" + id).c_str(), [=](benchmark::State& s) {
      const Operands& o = operands(sh);
      if (!*made) {
        *made = setup(o);
        if ((*made)->run) check(id, o, (*made)->run(), tolerance);
      }
      const Backend& b = **made;
      if (!b.run) return s.SkipWithError(b.label.c_str());
      for (auto _ : s) benchmark::DoNotOptimize(b.run());
      const double flops = 2.0 * double(sh.m) * double(sh.n) * double(sh.k);
      s.counters["GFLOPs"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
      s.counters["pct_of_peak"] =
          benchmark::Counter(100 * flops * 1e-9 / peak, benchmark::Counter::kIsIterationInvariantRate);
      s.SetLabel(b.label);
    })->UseRealTime();
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
      std::fprintf(stderr, "gemm_backends: measures one thread; --threads=%d is not supported\n", threads);
      std::exit(2);
    }
    Eigen::setNbThreads(1);
    for (int r = 0; r < 5; ++r) peak = std::max(peak, bench::measured_fma_peak(true, 1));
    register_backend("libxsmm", 1e-4, libxsmm);
    register_backend("eigen", 1e-4, eigen);
    register_backend("dnnl_sgemm", 1e-4, onednn_sgemm);
    register_backend("onednn_matmul", 1e-4, [](const Operands& op) { return onednn_matmul(op, dt::f32); });
    if (has_bf16_units())
      register_backend("onednn_matmul_bf16", 1e-2, [](const Operands& op) { return onednn_matmul(op, dt::bf16); });
    register_backend("tapegrad", 1e-4, tapegrad_matmul);
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
