#include "ops/parallel.h"

#include <omp.h>

#include <algorithm>

#include "tapegrad/core/threads.h"

namespace tapegrad::detail {

void parallel_ranges(int64_t n, void (*run)(void*, int64_t, int64_t), void* ctx) {
  const int threads = num_threads();
  if (threads <= 1) return run(ctx, 0, n);
  // Bounds on multiples of 64 elements: every part starts as aligned as the whole, so vectorized
  // bodies and their scalar tails cover the same elements as on one thread.
  const int64_t blocks = (n + 63) / 64;
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = std::min(n, blocks * t / nt * 64), end = std::min(n, blocks * (t + 1) / nt * 64);
    if (begin < end) run(ctx, begin, end);
  }
}

void parallel_rows(int64_t rows, void (*run)(void*, int64_t, int64_t), void* ctx) {
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), rows));
  if (threads <= 1) return run(ctx, 0, rows);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
    const int64_t begin = rows * t / nt, end = rows * (t + 1) / nt;
    if (begin < end) run(ctx, begin, end);
  }
}

void parallel_parts(int threads, int64_t parts, void (*run)(void*, int64_t, int), void* ctx) {
  if (threads <= 1 || parts <= 1) {
    for (int64_t p = 0; p < parts; ++p) run(ctx, p, 0);
    return;
  }
  std::exception_ptr error;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t p = 0; p < parts; ++p) {
    try {
      run(ctx, p, omp_get_thread_num());
    } catch (...) {
#pragma omp critical(tapegrad_parallel_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace tapegrad::detail
