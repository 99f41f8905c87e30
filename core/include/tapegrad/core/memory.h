#pragma once
/// \file memory.h
/// The per-thread tensor memory cache: statistics and release.
#include <cstdint>

namespace tapegrad {

/// Counters of this thread's tensor allocations since it started.
struct MemoryStats {
  uint64_t allocations = 0;         ///< blocks handed out (tensor storage, tensor objects)
  uint64_t system_allocations = 0;  ///< of those, blocks that had to come from malloc
};

/// This thread's allocation counters; the difference over a training step shows whether the
/// step still calls malloc.
MemoryStats memory_stats();

/// Returns this thread's cached free blocks to the system (the cache refills as tensors are freed).
void empty_cache();

}  // namespace tapegrad
