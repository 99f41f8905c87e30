// Keeping the replicas of a model in step: one broadcast of the initial state, then one
// bucketed gradient allreduce per step.
#include "tapegrad/dist/data_parallel.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "backend.h"
#include "tapegrad/core/error.h"
#include "tapegrad/dist/comm.h"

namespace tapegrad::dist {
namespace {

// One line per tensor: what every rank must agree on before tensors are exchanged by position.
std::vector<std::string> layout(const NamedTensors& tensors, const char* kind) {
  std::vector<std::string> lines;
  for (const auto& [name, t] : tensors)
    lines.push_back(std::string(kind) + " '" + name + "' " + std::string(dtype_name(t.dtype())) + " " + t.shape().str());
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> lines;
  size_t at = 0;
  for (size_t nl; (nl = s.find('\n', at)) != std::string::npos; at = nl + 1) lines.push_back(s.substr(at, nl - at));
  return lines;
}

// Where one rank's lines first differ from the root's, as every rank sees it after gathering
// every rank's lines (so that all throw the same error, and none goes on to a collective the
// others have left).
struct Difference {
  size_t rank = 0, index = 0;        // the first rank that differs, and its first line that does
  size_t count = 0, root_count = 0;  // how many lines that rank and the root have
  std::string line, root_line;       // its line there and the root's ("nothing" past the end)
};

std::optional<Difference> first_difference(const std::vector<std::string>& mine, int root) {
  const std::vector<std::string> all = all_gather(joined(mine));
  const std::string& reference_text = all.at(static_cast<size_t>(root));
  const std::vector<std::string> reference = split(reference_text);
  for (size_t r = 0; r < all.size(); ++r) {
    if (all[r] == reference_text) continue;
    const std::vector<std::string> theirs = split(all[r]);
    size_t k = 0;
    while (k < theirs.size() && k < reference.size() && theirs[k] == reference[k]) ++k;
    return Difference{r, k, theirs.size(), reference.size(), k < theirs.size() ? theirs[k] : "nothing",
                      k < reference.size() ? reference[k] : "nothing"};
  }
  return std::nullopt;
}

void check_same_layout(const std::vector<std::string>& mine, int root, const char* who, const char* what) {
  const std::optional<Difference> d = first_difference(mine, root);
  if (!d) return;
  const auto tensor = [](const std::string& line) { return line == "nothing" ? std::string("no tensor") : line; };
  throw Error("tg::dist::" + std::string(who) + ": rank " + std::to_string(d->rank) + " has another " + what +
              " than rank " + std::to_string(root) + " (" + std::to_string(d->count) + " tensors against " +
              std::to_string(d->root_count) + "): at tensor " + std::to_string(d->index) + ", rank " +
              std::to_string(d->rank) + " has " + tensor(d->line) + " where rank " + std::to_string(root) + " has " +
              tensor(d->root_line) + "; every rank must build the same model");
}

std::string show_options(const GradientAveragerOptions& o) {
  return "bucket_bytes " + std::to_string(o.bucket_bytes) + ", in_place_bytes " + std::to_string(o.in_place_bytes);
}

void broadcast_all(const NamedTensors& tensors, int root, const char* who) {
  for (const auto& [name, t] : tensors) {
    Tensor data = t;
    detail::broadcast({data.raw_data(), detail::byte_count(data.numel(), data.dtype()), detail::Elem::byte}, root, who);
  }
}

template <class T>
void scale(T* to, const T* from, int64_t n, T w) {
  for (int64_t i = 0; i < n; ++i) to[i] = w * from[i];
}

// to[i] = weight * g[i] over g's elements; `to` may be g's own data.
void scale_into(void* to, const Tensor& g, double weight) {
  if (g.dtype() == Dtype::f32) scale(static_cast<float*>(to), g.data<float>(), g.numel(), static_cast<float>(weight));
  else scale(static_cast<double*>(to), g.data<double>(), g.numel(), weight);
}

}  // namespace

void broadcast_state(nn::Module& model, int root) {
  const NamedTensors params = model.named_parameters(), buffers = model.named_buffers();
  std::vector<std::string> lines = layout(params, "parameter");
  for (std::string& l : layout(buffers, "buffer")) lines.push_back(std::move(l));
  check_same_layout(lines, root, "broadcast_state", "model");
  broadcast_all(params, root, "broadcast_state");
  broadcast_all(buffers, root, "broadcast_state");
}

void broadcast_buffers(nn::Module& model, int root) { broadcast_all(model.named_buffers(), root, "broadcast_buffers"); }

void check_loader(const data::DataLoader& loader) {
  const data::DataLoaderOptions& o = loader.options();
  const auto yes_no = [](bool b) { return std::string(b ? "true" : "false"); };
  // The last line is the same on every rank when each takes its own share.
  const bool own_share = o.replicas == size() && o.rank == rank();
  const std::vector<std::string> settings = {
      std::to_string(loader.dataset().size()) + " examples",
      "batch_size " + std::to_string(o.batch_size),
      "drop_last " + yes_no(o.drop_last),
      "shuffle " + yes_no(o.shuffle),
      "seed " + std::to_string(o.seed),
      "epoch " + std::to_string(loader.epoch()),
      own_share ? "its share" : "replicas " + std::to_string(o.replicas) + " and rank " + std::to_string(o.rank) +
                                    " although it is rank " + std::to_string(rank()) + " of " + std::to_string(size()),
  };
  const auto wrong_share = [](const std::string& rank, const std::string& line) {
    return Error("tg::dist::check_loader: rank " + rank + "'s loader has " + line +
                 "; build each rank's loader with .replicas = tg::dist::size(), .rank = tg::dist::rank()");
  };
  const std::optional<Difference> d = first_difference(settings, 0);
  if (!d) {
    if (own_share) return;
    throw wrong_share("0", settings.back());  // a job of one: nobody to differ from
  }
  const std::string r = std::to_string(d->rank);
  if (d->index == settings.size() - 1) {  // a share that is not its own: name the rank that has it wrong
    if (d->root_line != "its share") throw wrong_share("0", d->root_line);
    throw wrong_share(r, d->line);
  }
  throw Error("tg::dist::check_loader: rank " + r + "'s loader has " + d->line + " where rank 0's has " +
              d->root_line + "; every rank must load the same dataset with the same options and epoch, or the ranks " +
              "take different numbers of steps (DataLoader::size())");
}

GradientAverager::GradientAverager(std::vector<Tensor> parameters, GradientAveragerOptions options)
    : params_(std::move(parameters)) {
  if (options.bucket_bytes == 0) throw Error("tg::dist::GradientAverager: bucket_bytes must be positive, got 0");
  NamedTensors named;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].defined() || !params_[i].requires_grad())
      throw Error("tg::dist::GradientAverager: parameter " + std::to_string(i) +
                  " is undefined or does not require gradients");
    named.emplace_back(std::to_string(i), params_[i]);
  }
  check_same_layout(layout(named, "parameter"), 0, "GradientAverager", "parameter list");
  // In parameter order: the last layers' gradients are complete first in backward, but a message
  // is only sent once all of them are done, so the order matters only for packing.
  size_t open_bucket = SIZE_MAX;  // the bucket packed gradients go into while it has room
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    const size_t bytes = static_cast<size_t>(p.numel()) * dtype_size(p.dtype());
    bytes_ += bytes;
    if (bytes >= options.in_place_bytes) {
      buckets_.push_back(Bucket{p.dtype(), {i}, p.numel(), true, {}});
      continue;
    }
    Bucket* open = open_bucket == SIZE_MAX ? nullptr : &buckets_[open_bucket];
    if (!open || open->dtype != p.dtype() ||
        (open->numel > 0 && static_cast<size_t>(open->numel) * dtype_size(p.dtype()) + bytes > options.bucket_bytes)) {
      open_bucket = buckets_.size();
      buckets_.push_back(Bucket{p.dtype(), {}, 0, false, {}});
      open = &buckets_.back();
    }
    open->params.push_back(i);
    open->numel += p.numel();
  }
  // The ranks exchange buckets by position, so their plans must match message for message: a
  // rank with other options would sum buffers of other lengths (MPI truncates, or writes past
  // the smaller one). Checked once here, so that average() pays nothing for it.
  std::vector<std::string> plan;
  for (const Bucket& b : buckets_)
    plan.push_back(std::string(dtype_name(b.dtype)) + " " + std::to_string(b.numel) + " elements " +
                   (b.in_place ? "in place, parameter " + std::to_string(b.params.front())
                               : "packed, parameters " + std::to_string(b.params.front()) + " to " +
                                     std::to_string(b.params.back())));
  if (const std::optional<Difference> d = first_difference(plan, 0)) {
    const std::vector<std::string> options_of = all_gather(show_options(options));
    const std::string r = std::to_string(d->rank);
    throw Error("tg::dist::GradientAverager: rank " + r + " plans other messages than rank 0 (" +
                std::to_string(d->count) + " against " + std::to_string(d->root_count) + "): message " +
                std::to_string(d->index) + " of rank " + r + " is " + d->line + " where rank 0's is " + d->root_line +
                "; every rank must pass the same GradientAveragerOptions, but rank " + r + " has " +
                options_of.at(d->rank) + " and rank 0 has " + options_of.at(0));
  }
  for (Bucket& b : buckets_)
    if (!b.in_place) b.buffer.resize(static_cast<size_t>(b.numel) * dtype_size(b.dtype));
}

void GradientAverager::average() { average(1.0 / size()); }

void GradientAverager::average(double weight) {
  const auto start = std::chrono::steady_clock::now();
  // A missing gradient (this rank's batch was empty) counts as zeros, and receives the result.
  for (Tensor& p : params_)
    if (!p.has_grad()) p.set_grad(zeros(p.shape(), p.dtype()));
  if (size() == 1 && weight == 1.0) {  // a job of one: its gradient is the average already
    last_seconds_ = 0;
    return;
  }
  std::vector<detail::Span> spans;
  for (Bucket& b : buckets_) {
    if (b.in_place) {
      Tensor g = params_[b.params.front()].grad();
      if (weight != 1.0) scale_into(g.raw_data(), g, weight);
      spans.push_back({g.raw_data(), b.numel, detail::elem_of(b.dtype)});
      continue;
    }
    uint8_t* at = b.buffer.data();
    for (size_t i : b.params) {
      const Tensor g = params_[i].grad();
      scale_into(at, g, weight);
      at += static_cast<size_t>(g.numel()) * dtype_size(g.dtype());
    }
    spans.push_back({b.buffer.data(), b.numel, detail::elem_of(b.dtype)});
  }
  detail::all_reduce_sum(spans, "GradientAverager::average");
  for (Bucket& b : buckets_) {
    if (b.in_place) continue;
    const uint8_t* at = b.buffer.data();
    for (size_t i : b.params) {
      Tensor g = params_[i].grad();
      const size_t bytes = static_cast<size_t>(g.numel()) * dtype_size(g.dtype());
      if (bytes) std::memcpy(g.raw_data(), at, bytes);
      at += bytes;
    }
  }
  last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tapegrad::dist
