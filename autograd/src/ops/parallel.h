#pragma once
// Private: loops on tg::set_num_threads threads. The work is cut into parts that do not depend
// on the thread count (ranges aligned to 64 elements, or whole images and planes), each computed
// as the one-thread loop computes it, so results are the same bits on any number of threads.
#include <cstdint>
#include <exception>

namespace tapegrad::detail {

// Below this many elements an elementwise loop stays on one thread: OpenMP's fork and join cost
// about as much as the loop (benchmarks/op_overhead.cpp, "threads" in docs/performance.md).
inline constexpr int64_t kParallelElements = int64_t{1} << 16;

// Calls run(ctx, begin, end) over [0, n) in ranges, one per thread.
void parallel_ranges(int64_t n, void (*run)(void* ctx, int64_t begin, int64_t end), void* ctx);

// body(begin, end) over [0, n) split over the threads (for n >= kParallelElements; the callers
// test n first, inline). Out of line and cold: the small ops' path never sees it.
template <class Body>
[[gnu::cold, gnu::noinline]] void split_over_threads(int64_t n, Body body) {
  parallel_ranges(
      n, [](void* ctx, int64_t b, int64_t e) { (*static_cast<Body*>(ctx))(b, e); }, &body);
}

// Calls run(ctx, begin, end) over rows [0, rows) in even ranges, one per thread: rows are whole
// units of work (a row of a broadcast), so no alignment is needed.
void parallel_rows(int64_t rows, void (*run)(void* ctx, int64_t begin, int64_t end), void* ctx);

// body(begin, end) over the rows [0, rows), split over the threads. Cold, as split_over_threads.
template <class Body>
[[gnu::cold, gnu::noinline]] void split_rows_over_threads(int64_t rows, Body body) {
  parallel_rows(
      rows, [](void* ctx, int64_t b, int64_t e) { (*static_cast<Body*>(ctx))(b, e); }, &body);
}

// body(begin, end) over [0, n): one call below kParallelElements, else split over the threads.
template <class Body>
inline void for_ranges(int64_t n, const Body& body) {
  if (n < kParallelElements) [[likely]] return body(int64_t{0}, n);
  split_over_threads(n, body);
}

// part(p, thread) for p in [0, parts) on `threads` threads, statically scheduled; a part's
// exception is carried out and rethrown on the calling thread.
void parallel_parts(int threads, int64_t parts, void (*run)(void* ctx, int64_t part, int thread), void* ctx);
template <class Part>
inline void for_parts(int threads, int64_t parts, const Part& part) {
  parallel_parts(
      threads, parts, [](void* ctx, int64_t p, int t) { (*static_cast<const Part*>(ctx))(p, t); },
      const_cast<Part*>(&part));
}

}  // namespace tapegrad::detail
