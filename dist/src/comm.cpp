// The backend-independent half of comm.h: launcher detection, the environment guard, and the
// tensor and metric collectives over backend.h.
#include <algorithm>
#include <cstdint>
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

// Before a tensor collective, every rank must hold the same dtype and shape: otherwise MPI
// truncates one rank's message and another sums unrelated bytes. One all_gather of four integers
// (dtype, rank of the shape, numel, an FNV-1a hash of the dims) settles it when they agree; only
// when they differ do the ranks exchange their shapes as text, to throw the same error everywhere.
void check_same_tensor(const Tensor& t, const char* who) {
  if (size() == 1) return;
  uint64_t hash = 14695981039346656037ull;
  for (int64_t d : t.shape().vec()) hash = (hash ^ static_cast<uint64_t>(d)) * 1099511628211ull;
  int64_t mine[4] = {static_cast<int64_t>(t.dtype()), static_cast<int64_t>(t.dim()), t.numel(),
                     static_cast<int64_t>(hash)};
  std::vector<int64_t> all(4 * static_cast<size_t>(size()));
  detail::all_gather({mine, 4, detail::Elem::i64}, all.data(), who);
  bool same = true;
  for (size_t i = 4; i < all.size(); ++i) same = same && all[i] == all[i % 4];
  if (same) return;
  const std::vector<std::string> described =
      all_gather(std::string(dtype_name(t.dtype())) + " " + t.shape().str());
  // Ranks grouped by what they hold, in order of the lowest rank: "rank 0 has float32 [3, 2];
  // ranks 1, 3 have float32 [2, 3]".
  std::vector<std::pair<std::string, std::vector<size_t>>> groups;
  for (size_t r = 0; r < described.size(); ++r) {
    auto g = std::find_if(groups.begin(), groups.end(), [&](const auto& x) { return x.first == described[r]; });
    if (g == groups.end()) groups.push_back({described[r], {r}});
    else g->second.push_back(r);
  }
  std::string text;
  for (const auto& [what, ranks] : groups) {
    if (!text.empty()) text += "; ";
    text += ranks.size() == 1 ? "rank " : "ranks ";
    for (size_t i = 0; i < ranks.size(); ++i) text += (i ? ", " : "") + std::to_string(ranks[i]);
    text += (ranks.size() == 1 ? " has " : " have ") + what;
  }
  throw Error(std::string("tg::dist::") + who + ": the ranks' tensors differ: " + text +
              "; every rank must pass a tensor of the same shape and dtype");
}

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
  check_same_tensor(t, "broadcast");
  detail::broadcast({t.raw_data(), detail::byte_count(t.numel(), t.dtype()), detail::Elem::byte}, root, "broadcast");
}

void broadcast(std::vector<uint8_t>& bytes, int root) {
  int64_t n = static_cast<int64_t>(bytes.size());
  detail::broadcast({&n, 1, detail::Elem::i64}, root, "broadcast");
  bytes.resize(static_cast<size_t>(n));
  detail::broadcast({bytes.data(), n, detail::Elem::byte}, root, "broadcast");
}

void all_reduce_sum(Tensor& t) {
  if (!t.defined()) throw Error(who_is("all_reduce_sum") + ": the tensor is undefined");
  check_same_tensor(t, "all_reduce_sum");
  if (t.dtype() == Dtype::bf16)
    throw Error(who_is("all_reduce_sum") + ": the " + t.shape().str() +
                " tensor is bfloat16, which has no exact sum across ranks; convert it with .to(tg::Dtype::f32) first");
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
