// Memory for tensors: a per-thread cache of freed blocks in power-of-two size classes, so that
// a training loop that allocates the same sizes every step stops calling malloc after step one
// (what Stan Math's arena and PyTorch's caching allocator achieve in their own ways).
#include <bit>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "tapegrad/core/memory.h"
#include "tensor_impl.h"
#include "tls.h"

namespace tapegrad {
namespace {

constexpr int kClasses = 48;
constexpr size_t kMinBlock = 64;
// A thread keeps at most this many bytes of freed blocks; beyond it, blocks go back to malloc.
constexpr size_t kMaxCachedBytes = size_t{1} << 30;

int size_class(size_t bytes) {
  if (bytes <= kMinBlock) return 0;
  return static_cast<int>(std::bit_width(bytes - 1)) - 6;  // 64 = 2^6 is class 0
}

// Set when this thread's cache is destroyed: tensors freed later (thread-local or static
// objects destroyed after it) go straight back to malloc.
TG_TLS thread_local bool cache_gone = false;

// A freed block holds the link to the next free block of its class.
struct FreeBlock {
  FreeBlock* next;
};

struct Cache {
  FreeBlock* free[kClasses] = {};
  size_t cached = 0;
  MemoryStats stats;
  ~Cache() {
    empty();
    cache_gone = true;
  }
  void empty() {
    for (int c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = free[c]) {
        free[c] = b->next;
        std::free(b);
      }
    }
    cached = 0;
  }
};

TG_TLS thread_local Cache* tls_cache = nullptr;

// Owns the cache; being a thread_local with a destructor, it frees the cache at thread exit.
struct CacheOwner {
  ~CacheOwner() {
    delete tls_cache;
    tls_cache = nullptr;
  }
};

Cache& cache() {
  if (!tls_cache) [[unlikely]] {
    thread_local CacheOwner owner;
    (void)owner;
    tls_cache = new Cache;
  }
  return *tls_cache;
}

// Small blocks come from plain malloc: aligned_alloc pads each one by up to the alignment,
// which for the 128-byte blocks of scalar tensors more than doubled the memory and time.
// Larger blocks are 64-byte aligned for SIMD loads.
void* system_alloc(size_t block) {
  void* p = block <= 1024 ? std::malloc(block) : std::aligned_alloc(64, block);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

namespace detail {

void pool_init() { (void)cache(); }

void* pool_alloc(size_t bytes) {
  if (cache_gone) return system_alloc(kMinBlock << size_class(bytes));
  Cache& c = cache();
  int k = size_class(bytes);
  size_t block = kMinBlock << k;
  ++c.stats.allocations;
  if (FreeBlock* b = c.free[k]) {
    c.free[k] = b->next;
    c.cached -= block;
    return b;
  }
  ++c.stats.system_allocations;
  return system_alloc(block);
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
  auto* b = static_cast<FreeBlock*>(p);
  b->next = c.free[k];
  c.free[k] = b;
  c.cached += block;
}

// The header and the elements share one block; the elements start 64 bytes in, aligned for SIMD.
constexpr size_t kHeader = 64;
static_assert(sizeof(Storage) <= kHeader);

Storage* Storage::create(size_t bytes) {
  void* block = pool_alloc(kHeader + bytes);
  auto* s = new (block) Storage();
  s->bytes = bytes;
  s->data = static_cast<char*>(block) + kHeader;
  return s;
}

namespace {
// Labels of the few buffers that have one, by buffer; read only to word an error.
std::mutex label_mutex;
std::unordered_map<const Storage*, std::string>& labels() {
  static auto* table = new std::unordered_map<const Storage*, std::string>();  // never destroyed: outlives every buffer
  return *table;
}
}  // namespace

void Storage::set_label(const std::string& name) {
  std::lock_guard<std::mutex> lock(label_mutex);
  if (labels().emplace(this, name).second) std::atomic_ref<bool>(labelled).store(true, std::memory_order_release);
}

namespace {
std::mutex step_writer_mutex;
std::vector<const char*>& step_writers() {
  static auto* names = new std::vector<const char*>();  // never destroyed, like the optimizers' literals
  return *names;
}
}  // namespace

void register_step_writer(const char* name) {
  std::lock_guard<std::mutex> lock(step_writer_mutex);
  for (const char* n : step_writers())
    if (n == name) return;
  step_writers().push_back(name);
}

bool is_step_writer(const char* name) {
  if (!name) return false;
  std::lock_guard<std::mutex> lock(step_writer_mutex);
  for (const char* n : step_writers())
    if (n == name) return true;
  return false;
}

// Out of line, so that destroy(), which runs for every buffer, keeps its short path short.
[[gnu::noinline]] static void forget_label(const Storage* s) {
  std::lock_guard<std::mutex> lock(label_mutex);
  labels().erase(s);
}

std::string Storage::label() const {
  std::lock_guard<std::mutex> lock(label_mutex);
  if (!labelled) return "";
  const auto it = labels().find(this);
  return it == labels().end() ? "" : it->second;
}

Storage* Storage::window(Storage* base, size_t offset, size_t bytes) {
  void* block = pool_alloc(kHeader);
  auto* s = new (block) Storage();
  s->bytes = bytes;
  s->data = static_cast<char*>(base->data) + offset;
  s->base = base;
  base->retain();
  return s;
}

namespace {
// The base of every hollow buffer: it holds no elements, and its first reference is never
// dropped, so it is never destroyed.
Storage& hollow_base() {
  static Storage base;
  return base;
}
}  // namespace

Storage* Storage::hollow(size_t bytes) {
  void* block = pool_alloc(kHeader);
  auto* s = new (block) Storage();
  s->bytes = bytes;
  s->base = &hollow_base();
  s->base->retain();
  return s;
}

bool Storage::is_hollow() const { return base == &hollow_base(); }

void Storage::destroy() {
  Storage* const b = base;
  const size_t total = kHeader + (b ? 0 : bytes);  // a window's elements are its base's
  if (labelled) [[unlikely]]
    forget_label(this);
  this->~Storage();
  pool_free(this, total);
  if (b) b->release();
}

}  // namespace detail

void* TensorImpl::operator new(size_t bytes) { return detail::pool_alloc(bytes); }
void TensorImpl::operator delete(void* p) { detail::pool_free(p, sizeof(TensorImpl)); }

MemoryStats memory_stats() { return cache_gone ? MemoryStats{} : cache().stats; }

void empty_cache() {
  if (!cache_gone) cache().empty();
}

}  // namespace tapegrad
