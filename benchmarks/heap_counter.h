#pragma once
// Counts every malloc-family call in the process (all threads, all libraries), by interposing
// glibc's malloc, calloc, realloc and the aligned variants in the executable. Include from
// exactly one translation unit of a program. tg::memory_stats() only sees tapegrad's tensor cache
// on the calling thread; this also sees std::vector growth, Eigen's GEMM buffers, OpenMP workers.
#include <malloc.h>
#include <stdlib.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
}

namespace bench {
inline std::atomic<uint64_t> heap_calls{0};
}  // namespace bench

extern "C" {
void* malloc(size_t n) noexcept {
  bench::heap_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t s) noexcept {
  bench::heap_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, s);
}
void* realloc(void* p, size_t n) noexcept {
  bench::heap_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) noexcept {
  bench::heap_calls.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) noexcept { return memalign(a, n); }
int posix_memalign(void** out, size_t a, size_t n) noexcept {
  void* p = memalign(a, n);
  if (!p) return 12;  // ENOMEM
  *out = p;
  return 0;
}
}
