// The backend of a build without MPI: the job is this process alone, and every collective is the
// identity. A job the launcher says has several processes is refused, since each would train
// alone and they would overwrite each other's files.
#ifndef TAPEGRAD_HAVE_MPI
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend.h"
#include "tapegrad/core/error.h"
#include "tapegrad/dist/comm.h"

namespace tapegrad::dist {
namespace {
bool active = false;

// A job the launcher made larger cannot run here (init() refuses it too, with the reason).
void require_init(const char* who) {
  if (launched_size() > 1)
    throw Error(std::string("tg::dist::") + who + ": the launcher started " + std::to_string(launched_size()) +
                " processes, but tapegrad was built without MPI");
}
}  // namespace

bool available() { return false; }

void init(int*, char***) {
  if (active) throw Error("tg::dist::init: initialised already (call init() once per process)");
  if (launched_size() > 1)
    throw Error("tg::dist::init: the launcher started " + std::to_string(launched_size()) +
                " processes, but tapegrad was built without MPI (install libopenmpi-dev and rebuild), so each would "
                "train alone");
  active = true;
}
void finalize() { active = false; }
bool initialized() { return active; }
int rank() { return 0; }
int size() { return 1; }

void abort(const std::string& message, int code) {
  std::fflush(stdout);
  std::fprintf(stderr, "rank 0: %s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(code);
}

void barrier() { require_init("barrier"); }

namespace detail {
void all_reduce_sum(const std::vector<Span>&, const char* who) { require_init(who); }
void broadcast(Span, int root, const char* who) {
  require_init(who);
  if (root != 0) throw Error(std::string("tg::dist::") + who + ": root " + std::to_string(root) + " is not a rank (the job has 1)");
}
void all_gather(Span send, void* recv, const char* who) {
  require_init(who);
  const size_t bytes = static_cast<size_t>(send.count) * elem_size(send.elem);
  if (bytes) std::memcpy(recv, send.data, bytes);
}
void all_gather_bytes(const void* send, const std::vector<int64_t>& counts, void* recv, const char* who) {
  require_init(who);
  if (counts.at(0)) std::memcpy(recv, send, static_cast<size_t>(counts[0]));
}
}  // namespace detail
}  // namespace tapegrad::dist
#endif  // !TAPEGRAD_HAVE_MPI
