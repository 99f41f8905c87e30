#pragma once
// Private: the few MPI calls everything in dist/ is built on, implemented by backend_mpi.cpp over
// MPI_COMM_WORLD, or by backend_single.cpp for a job of one process when tapegrad is built
// without MPI. `who` names the public function in errors.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tapegrad/core/dtype.h"

namespace tapegrad::dist::detail {

// A contiguous array of `count` elements of `dtype` (f32, f64, or i64 for counts and lengths).
enum class Elem { f32, f64, i64, byte };
struct Span {
  void* data;
  int64_t count;
  Elem elem;
};
// The element type sums are taken in (a bfloat16 tensor has none: all_reduce_sum refuses it).
inline Elem elem_of(Dtype dtype) {
  return dtype == Dtype::f32 ? Elem::f32 : dtype == Dtype::i64 ? Elem::i64 : Elem::f64;
}
// The tensor's storage as bytes, for the calls that copy rather than add (broadcast): every dtype.
inline int64_t byte_count(int64_t numel, Dtype dtype) { return numel * static_cast<int64_t>(dtype_size(dtype)); }
inline size_t elem_size(Elem e) { return e == Elem::byte ? 1 : e == Elem::f32 ? 4 : 8; }

// Sums every span elementwise across ranks, in place.
void all_reduce_sum(const std::vector<Span>& spans, const char* who);
// Rank `root`'s span on every rank.
void broadcast(Span span, int root, const char* who);
// Every rank's `send` (the same count everywhere) into `recv`, rank after rank (count * size()).
void all_gather(Span send, void* recv, const char* who);
// Every rank's `send` (counts[r] bytes from rank r, counts known everywhere) into `recv`.
void all_gather_bytes(const void* send, const std::vector<int64_t>& counts, void* recv, const char* who);

}  // namespace tapegrad::dist::detail
