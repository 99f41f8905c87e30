#include "tapegrad/autograd/threads.h"

#include <atomic>
#include <string>
#include <thread>

#include "tapegrad/autograd/error.h"
#include "tapegrad/autograd/log.h"

#include <spdlog/spdlog.h>

namespace tapegrad {

namespace {
std::atomic<int> current_threads{1};
}

void set_num_threads(int n) {
  if (n < 1) throw Error("set_num_threads: expected at least 1 thread, got " + std::to_string(n));
  current_threads = n;
  detail::apply_num_threads(n);
  logger()->debug("set_num_threads: matrix products use {} thread(s)", n);
}

int num_threads() { return current_threads.load(std::memory_order_relaxed); }

}  // namespace tapegrad
