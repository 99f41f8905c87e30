// The products of tg::AutocastGuard: float32 operands rounded to bfloat16, products accumulated in
// float32. On a processor with bfloat16 units (AVX512-BF16, AMX) they run through oneDNN's matmul
// primitive, bf16 x bf16 -> f32, which doubles (AVX512-BF16) or multiplies many times (AMX) the
// multiply-add rate; elsewhere, in float32 on the rounded values: each product of two bfloat16
// values is exact in float32, so the two paths differ only in the order of float32 additions.
#include <omp.h>

#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include <spdlog/spdlog.h>

#ifdef TAPEGRAD_HAVE_DNNL
#include <oneapi/dnnl/dnnl.hpp>
#endif

#include "log.h"
#include "ops/gemm.h"
#include "tapegrad/autograd/autocast.h"
#include "tapegrad/core/error.h"
#include "tapegrad/core/threads.h"
#include "tls.h"

namespace tapegrad {

namespace detail {
TG_TLS thread_local bool autocast_bf16 = false;
}

namespace {
// set_bf16_hardware's choice: -1 until it is called (the units where they pay), 0 never, 1 always.
std::atomic<int> hardware_choice{-1};

#ifdef TAPEGRAD_HAVE_DNNL
// oneDNN's own reading of the processor (its dispatcher's), so that "has bfloat16 units" means
// "oneDNN will use them".
bool has_bf16_units() {
  const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const unsigned bf16 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_bf16);
  return (isa & bf16) == bf16;
}
bool has_amx() {
  const unsigned isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const unsigned amx = static_cast<unsigned>(dnnl::cpu_isa::avx512_core_amx);
  return (isa & amx) == amx;
}
const char* isa_name() { return has_amx() ? "avx512_core_amx" : "avx512_core_bf16"; }
#else
bool has_bf16_units() { return false; }
bool has_amx() { return false; }
const char* isa_name() { return ""; }
#endif

// Whether the units are faster than float32 here. AVX512-BF16 without AMX: on an AMD EPYC,
// oneDNN's bfloat16 matmul ran about twice as fast as its float32 one; on an Intel Xeon, half as
// fast at every shape of the nets (benchmarks/gemm_backends.cpp, one thread).
bool units_pay() {
#if defined(__x86_64__) || defined(__i386__)
  return has_amx() || __builtin_cpu_is("amd");
#else
  return has_amx();
#endif
}

bool use_hardware() {
  static const bool units = has_bf16_units(), pays = units && units_pay();
  const int choice = hardware_choice.load(std::memory_order_relaxed);
  return units && (choice == 1 || (choice < 0 && pays));
}

// Says once, at the first product, which path autocast took (info; tapegrad-train prints it).
void log_path_once() {
  static std::once_flag once;
  std::call_once(once, [] { logger()->info("autocast: bfloat16 products: {}", bf16_path()); });
}
}  // namespace

AutocastGuard::AutocastGuard(Dtype dtype) : previous_(detail::autocast_bf16) {
  if (dtype != Dtype::bf16 && dtype != Dtype::f32)
    throw Error("AutocastGuard: expected Dtype::bf16 (products in bfloat16) or Dtype::f32 (autocast off), got " +
                std::string(dtype_name(dtype)));
  detail::autocast_bf16 = dtype == Dtype::bf16;
}
AutocastGuard::~AutocastGuard() { detail::autocast_bf16 = previous_; }

bool autocast_enabled() { return detail::autocast_bf16; }
bool bf16_hardware() { return use_hardware(); }
void set_bf16_hardware(bool allowed) { hardware_choice.store(allowed ? 1 : 0, std::memory_order_relaxed); }

std::string bf16_path() {
  if (use_hardware()) return std::string("oneDNN on ") + isa_name() + " (bfloat16 units)";
#ifdef TAPEGRAD_HAVE_DNNL
  if (has_bf16_units() && hardware_choice.load(std::memory_order_relaxed) < 0)
    return "float32 on bfloat16-rounded values (this processor's AVX512-BF16 without AMX is slower than its float32 "
           "units on Intel; set_bf16_hardware(true) uses it)";
  if (has_bf16_units()) return "float32 on bfloat16-rounded values (bfloat16 units turned off by set_bf16_hardware)";
  return "float32 on bfloat16-rounded values (this processor has neither AVX512-BF16 nor AMX)";
#else
  return "float32 on bfloat16-rounded values (built without oneDNN)";
#endif
}

namespace detail {

OmpThreads::OmpThreads(int n) : previous(omp_get_max_threads()) {
  if (n != previous) omp_set_num_threads(n);
}
OmpThreads::~OmpThreads() {
  if (omp_get_max_threads() != previous) omp_set_num_threads(previous);
}

void round_floats(const float* x, int64_t count, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = std::bit_cast<float>(static_cast<uint32_t>(bfloat16::round(x[i])) << 16);
}

namespace {

// The fallback: the operands rounded into per-thread buffers, then the float32 GEMM.
void emulated(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float beta,
              float* c) {
  thread_local std::vector<float> ra, rb;
  ra.resize(static_cast<size_t>(m * k));
  rb.resize(static_cast<size_t>(k * n));
  round_floats(a, m * k, ra.data());
  round_floats(b, k * n, rb.data());
  gemm<float>(ta, tb, m, n, k, 1.0f, ra.data(), rb.data(), beta, c);
}

#ifdef TAPEGRAD_HAVE_DNNL
// One product's primitive, created once per shape, transposes, beta and thread count (oneDNN
// fixes its partition of the work when the primitive is created).
struct Bf16Gemm {
  int64_t m, n, k;
  bool ta, tb;
  int threads;
  dnnl::memory::desc a_md, b_md, c_md, scratch_md;
  dnnl::matmul prim;
};
dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

int threads_for(int64_t m, int64_t n, int64_t k) {
  return product_threads(static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));
}

const Bf16Gemm* primitive(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float beta) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  const int threads = threads_for(m, n, k);
  const auto key = std::make_tuple(m, n, k, ta, tb, beta != 0.0f, threads);
  static std::mutex mutex;
  static std::map<decltype(key), std::unique_ptr<Bf16Gemm>> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  OmpThreads omp(threads);  // oneDNN fixes its partition of the work at creation
  auto p = std::make_unique<Bf16Gemm>();
  p->m = m, p->n = n, p->k = k, p->ta = ta, p->tb = tb, p->threads = threads;
  // A transposed operand is read in place: oneDNN takes its strides from the format tag.
  p->a_md = dnnl::memory::desc({m, k}, dt::bf16, ta ? tag::ba : tag::ab);
  p->b_md = dnnl::memory::desc({k, n}, dt::bf16, tb ? tag::ba : tag::ab);
  p->c_md = dnnl::memory::desc({m, n}, dt::f32, tag::ab);
  dnnl::primitive_attr attr;
  // Our scratchpad, one per thread: conv2d's images run the same primitive on several threads at
  // once, and a library-managed scratchpad is shared by the primitive's executions (Debian's
  // oneDNN is not built for concurrent execution), which mixed their partial sums.
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (beta != 0.0f) {  // C += op(A) op(B): conv2d's weight gradient, summed image by image
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  try {
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->a_md, p->b_md, p->c_md), attr, engine());
    p->prim = dnnl::matmul(pd);
    p->scratch_md = pd.scratchpad_desc();
  } catch (const dnnl::error& e) {
    throw Error("matmul (bfloat16 autocast): oneDNN has no product of " + std::to_string(m) + "x" +
                std::to_string(k) + " by " + std::to_string(k) + "x" + std::to_string(n) + ": " + e.what());
  }
  return cache.emplace(key, std::move(p)).first->second.get();
}

// This thread's memory objects of a primitive, pointed at each call's buffers (making them at
// every call cost four allocations; conv2d calls a primitive once per image).
struct Bound {
  dnnl::memory a, b, c, scratch;
  std::vector<uint8_t> scratch_bytes;
};

void run(const Bf16Gemm& g, const float* a, const float* b, float* c, const uint16_t* a_bits) {
  thread_local std::vector<uint16_t> ra, rb;
  if (!a_bits) {
    ra.resize(static_cast<size_t>(g.m * g.k));
    round_to_bf16(a, g.m * g.k, ra.data(), g.threads);
  }
  rb.resize(static_cast<size_t>(g.k * g.n));
  round_to_bf16(b, g.k * g.n, rb.data(), g.threads);
  thread_local std::map<const Bf16Gemm*, Bound> bound;
  auto it = bound.find(&g);
  if (it == bound.end()) {  // made whole before it is kept: a failure leaves no half-made entry
    Bound fresh;
    fresh.scratch_bytes.resize(g.scratch_md.get_size());
    fresh.a = dnnl::memory(g.a_md, engine(), DNNL_MEMORY_NONE);
    fresh.b = dnnl::memory(g.b_md, engine(), DNNL_MEMORY_NONE);
    fresh.c = dnnl::memory(g.c_md, engine(), DNNL_MEMORY_NONE);
    fresh.scratch = dnnl::memory(g.scratch_md, engine(), fresh.scratch_bytes.data());
    it = bound.emplace(&g, std::move(fresh)).first;
  }
  Bound& m = it->second;
  m.a.set_data_handle(const_cast<uint16_t*>(a_bits ? a_bits : ra.data()));
  m.b.set_data_handle(rb.data());
  m.c.set_data_handle(c);
  thread_local dnnl::stream stream(engine());
  OmpThreads omp(g.threads);
  // The C call: the C++ one builds an std::unordered_map of the arguments at every call.
  const dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC, m.a.get()},
                                  {DNNL_ARG_WEIGHTS, m.b.get()},
                                  {DNNL_ARG_DST, m.c.get()},
                                  {DNNL_ARG_SCRATCHPAD, m.scratch.get()}};
  if (dnnl_primitive_execute(g.prim.get(), stream.get(), 4, args) != dnnl_success || dnnl_stream_wait(stream.get()) != dnnl_success)
    throw Error("matmul (bfloat16 autocast): oneDNN failed to run the product of " + std::to_string(g.m) + "x" +
                std::to_string(g.k) + " by " + std::to_string(g.k) + "x" + std::to_string(g.n));
}
#endif
}  // namespace

void round_to_bf16(const float* x, int64_t count, uint16_t* out, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1 && count >= (1 << 16))
  for (int64_t i = 0; i < count; ++i) out[i] = bfloat16::round(x[i]);
}

void gemm_bf16(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, const float* b, float beta,
               float* c, const uint16_t* a_bits) {
  if (beta != 0.0f && beta != 1.0f) [[unlikely]]  // the primitives add with a sum post-op of 1
    throw Error("matmul (bfloat16 autocast): internal: beta must be 0 or 1, got " + std::to_string(beta));
  log_path_once();
#ifdef TAPEGRAD_HAVE_DNNL
  if (m > 0 && n > 0 && k > 0 && use_hardware()) return run(*primitive(ta, tb, m, n, k, beta), a, b, c, a_bits);
#endif
  (void)a_bits;  // the fallback rounds A to floats itself
  emulated(ta, tb, m, n, k, a, b, beta, c);
}

const void* gemm_bf16_kernel(bool ta, bool tb, int64_t m, int64_t n, int64_t k) {
  log_path_once();
#ifdef TAPEGRAD_HAVE_DNNL
  if (m > 0 && n > 0 && k > 0 && use_hardware()) return primitive(ta, tb, m, n, k, 0.0f);
#endif
  (void)ta, (void)tb, (void)m, (void)n, (void)k;
  return nullptr;
}

void gemm_bf16_with(const void* kernel, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a,
                    const float* b, float* c) {
#ifdef TAPEGRAD_HAVE_DNNL
  if (kernel) return run(*static_cast<const Bf16Gemm*>(kernel), a, b, c, nullptr);
#endif
  (void)kernel;
  emulated(ta, tb, m, n, k, a, b, 0.0f, c);
}

}  // namespace detail
}  // namespace tapegrad
