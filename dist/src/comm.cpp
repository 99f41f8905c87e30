// The backend-independent half of comm.h: launcher detection, the environment guard, and the
// tensor and metric collectives over backend.h.
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <string>

#include "backend.h"
#include "tapegrad/core/error.h"
#include "tapegrad/dist/comm.h"

namespace tapegrad::dist {
namespace {

// Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE, MPICH's Hydra PMI_SIZE; a PMIx launcher (srun,
// prun) sets PMIX_RANK.
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

std::string who_is(const char* fn) { return "tg::dist: rank " + std::to_string(rank()) + ": " + fn; }

}  // namespace

bool launched() { return env("OMPI_COMM_WORLD_SIZE") || env("PMI_SIZE") || env("PMIX_RANK"); }

int launched_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = env(name)) return std::max(1, std::atoi(v));
  return 1;
}

Environment::Environment(int* argc, char*** argv) : uncaught_(std::uncaught_exceptions()) { init(argc, argv); }

Environment::~Environment() {
  if (std::uncaught_exceptions() > uncaught_)
    abort("an exception is ending this rank before the job's end; aborting the job so that no rank waits for it");
  finalize();
}

void broadcast(Tensor& t, int root) {
  if (!t.defined()) throw Error(who_is("broadcast") + ": the tensor is undefined");
  detail::broadcast({t.raw_data(), t.numel(), detail::elem_of(t.dtype())}, root, "broadcast");
}

void broadcast(std::vector<uint8_t>& bytes, int root) {
  int64_t n = static_cast<int64_t>(bytes.size());
  detail::broadcast({&n, 1, detail::Elem::i64}, root, "broadcast");
  bytes.resize(static_cast<size_t>(n));
  detail::broadcast({bytes.data(), n, detail::Elem::byte}, root, "broadcast");
}

void all_reduce_sum(Tensor& t) {
  if (!t.defined()) throw Error(who_is("all_reduce_sum") + ": the tensor is undefined");
  detail::all_reduce_sum({{t.raw_data(), t.numel(), detail::elem_of(t.dtype())}}, "all_reduce_sum");
}

std::vector<double> all_reduce_sum(const std::vector<double>& values) {
  // Lengths first: a rank with another length would otherwise read past the others' buffers.
  std::vector<double> lengths = all_gather(static_cast<double>(values.size()));
  for (size_t r = 1; r < lengths.size(); ++r)
    if (lengths[r] != lengths[0])
      throw Error("tg::dist: all_reduce_sum: rank " + std::to_string(r) + " sums " +
                  std::to_string(static_cast<int64_t>(lengths[r])) + " values but rank 0 sums " +
                  std::to_string(static_cast<int64_t>(lengths[0])));
  std::vector<double> out = values;
  detail::all_reduce_sum({{out.data(), static_cast<int64_t>(out.size()), detail::Elem::f64}}, "all_reduce_sum");
  return out;
}

std::vector<double> all_gather(double value) {
  std::vector<double> out(static_cast<size_t>(size()));
  detail::all_gather({&value, 1, detail::Elem::f64}, out.data(), "all_gather");
  return out;
}

std::vector<std::string> all_gather(const std::string& text) {
  int64_t n = static_cast<int64_t>(text.size());
  std::vector<int64_t> counts(static_cast<size_t>(size()));
  detail::all_gather({&n, 1, detail::Elem::i64}, counts.data(), "all_gather");
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::string all(static_cast<size_t>(total), '\0');
  detail::all_gather_bytes(text.data(), counts, all.data(), "all_gather");
  std::vector<std::string> out;
  int64_t at = 0;
  for (int64_t c : counts) {
    out.push_back(all.substr(static_cast<size_t>(at), static_cast<size_t>(c)));
    at += c;
  }
  return out;
}

}  // namespace tapegrad::dist
