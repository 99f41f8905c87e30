// Memory for tensors: a per-thread cache of freed blocks in power-of-two size classes, so that
// a training loop that allocates the same sizes every step stops calling malloc after step one
// (what Stan Math's arena and PyTorch's caching allocator achieve in their own ways).
#include <cstdlib>
#include <new>
#include <vector>

#include "tapegrad/autograd/memory.h"
#include "tapegrad/autograd/tensor_impl.h"

namespace tapegrad {
namespace {

constexpr int kClasses = 48;
constexpr size_t kMinBlock = 64;
// A thread keeps at most this many bytes of freed blocks; beyond it, blocks go back to malloc.
constexpr size_t kMaxCachedBytes = size_t{1} << 30;

int size_class(size_t bytes) {
  size_t b = kMinBlock;
  int c = 0;
  while (b < bytes) {
    b <<= 1;
    ++c;
  }
  return c;
}

// Set when this thread's cache is destroyed: tensors freed later (thread-local or static
// objects destroyed after it) go straight back to malloc.
thread_local bool cache_gone = false;

struct Cache {
  std::vector<void*> free[kClasses];
  size_t cached = 0;
  MemoryStats stats;
  ~Cache() {
    empty();
    cache_gone = true;
  }
  void empty() {
    for (int c = 0; c < kClasses; ++c) {
      for (void* p : free[c]) std::free(p);
      free[c].clear();
      free[c].shrink_to_fit();
    }
    cached = 0;
  }
};

Cache& cache() {
  thread_local Cache c;
  return c;
}

}  // namespace

namespace detail {

void pool_init() { (void)cache(); }

void* pool_alloc(size_t bytes) {
  if (cache_gone) {
    void* p = std::aligned_alloc(64, kMinBlock << size_class(bytes));
    if (!p) throw std::bad_alloc();
    return p;
  }
  Cache& c = cache();
  int k = size_class(bytes);
  size_t block = kMinBlock << k;
  ++c.stats.allocations;
  if (!c.free[k].empty()) {
    void* p = c.free[k].back();
    c.free[k].pop_back();
    c.cached -= block;
    return p;
  }
  ++c.stats.system_allocations;
  void* p = std::aligned_alloc(64, block);
  if (!p) throw std::bad_alloc();
  return p;
}

void pool_free(void* p, size_t bytes) {
  if (!p) return;
  if (cache_gone) {
    std::free(p);
    return;
  }
  Cache& c = cache();
  int k = size_class(bytes);
  size_t block = kMinBlock << k;
  if (c.cached + block > kMaxCachedBytes) {
    std::free(p);
    return;
  }
  c.free[k].push_back(p);
  c.cached += block;
}

Storage* Storage::create(size_t bytes) {
  auto* s = new (pool_alloc(sizeof(Storage))) Storage();
  s->bytes = bytes;
  s->data = bytes ? pool_alloc(bytes) : nullptr;
  return s;
}

void Storage::destroy() {
  pool_free(data, bytes);
  this->~Storage();
  pool_free(this, sizeof(Storage));
}

void* TensorImpl::operator new(size_t bytes) { return pool_alloc(bytes); }
void TensorImpl::operator delete(void* p) { pool_free(p, sizeof(TensorImpl)); }

}  // namespace detail

MemoryStats memory_stats() { return cache_gone ? MemoryStats{} : cache().stats; }

void empty_cache() {
  if (!cache_gone) cache().empty();
}

}  // namespace tapegrad
