#include "tapegrad/core/threads.h"

#include <atomic>
#include <string>
#include <thread>

#include "tapegrad/core/error.h"
#include "log.h"

#include <spdlog/spdlog.h>

namespace tapegrad {

namespace {
std::atomic<int> current_threads{1};
}

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: expected at least 1 thread, got " + std::to_string(n));
  current_threads = n;
  logger()->debug("set_num_threads: matrix products use {} thread(s)", n);
}

int num_threads() { return current_threads.load(std::memory_order_relaxed); }

}  // namespace tapegrad
