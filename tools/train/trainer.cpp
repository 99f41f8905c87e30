#include "trainer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace tg = tapegrad;

namespace tapegrad_train {
namespace {

// Examples in `logits` ([b, classes], float32) whose largest logit is at the label.
int64_t count_correct(const tg::Tensor& logits, const std::vector<int64_t>& labels) {
  const int64_t classes = logits.size(1);
  const float* p = logits.data<float>();
  int64_t right = 0;
  for (size_t i = 0; i < labels.size(); ++i, p += classes) {
    int64_t best = 0;
    for (int64_t c = 1; c < classes; ++c)
      if (p[c] > p[best]) best = c;
    right += best == labels[i];
  }
  return right;
}

}  // namespace

TrainStep::TrainStep(tg::nn::Module& model, tg::optim::Optimizer& optimizer, bool compile, tg::Dtype precision)
    : model_(model), optimizer_(optimizer), compile_(compile), precision_(precision) {}

tg::Tensor TrainStep::forward(const std::vector<tg::Tensor>& in) {
  tg::Tensor& logits = logits_[in[0].size(0)];
  // The backward replays the path the forward recorded, inside the guard or not.
  tg::AutocastGuard autocast(precision_);
  logits = model_(in[0]);
  return tg::softmax_cross_entropy(logits, in[1]);
}

void TrainStep::average() {
  if (averager_) averager_->average(weight_);
}

tg::Tensor TrainStep::train(const tg::Tensor& images, const tg::Tensor& labels, tg::dist::GradientAverager* averager,
                            double weight) {
  rows_ = images.size(0);
  averager_ = averager;
  weight_ = weight;
  if (compile_) {
    // The hook reads averager_ and weight_ when it runs: this call's, set above.
    if (!step_.defined())
      step_ = tg::compile_step([this](const std::vector<tg::Tensor>& in) { return forward(in); }, {images, labels},
                               optimizer_, {.before_update = [this] { average(); }});
    return step_({images, labels});
  }
  optimizer_.zero_grad();
  tg::Tensor loss = forward({images, labels});
  loss.backward();
  average();
  optimizer_.step();
  return loss;
}

void TrainStep::train_empty_share(tg::dist::GradientAverager* averager) {
  optimizer_.zero_grad(true);
  if (averager) averager->average(0);
  optimizer_.step();
}

EpochTotals train_epoch(tg::nn::Module& model, tg::optim::Optimizer& optimizer, const tg::data::DataLoader& loader,
                        const ProgressFn& progress) {
  TrainStep step(model, optimizer, true);
  return train_epoch(step, model, loader, progress);
}

EpochTotals train_epoch(TrainStep& step, tg::nn::Module& model, const tg::data::DataLoader& loader,
                        const ProgressFn& progress, tg::dist::GradientAverager* averager) {
  // Every rank must take the same number of steps, or one waits in the average forever.
  if (averager) tg::dist::check_loader(loader);
  model.train();
  double loss_sum = 0, allreduce_seconds = 0;
  int64_t right = 0, seen = 0;
  const int64_t batches = loader.size();
  for (int64_t i = 0; i < batches; ++i) {
    const tg::data::Batch batch = loader.batch(i);
    if (batch.size() == 0) {
      // This rank's share of a short last batch is empty (only when sharded): no gradient, but it
      // still joins the average, with weight 0, and steps with the others.
      step.train_empty_share(averager);
      if (averager) allreduce_seconds += averager->last_seconds();
      continue;
    }
    const std::vector<double> classes(batch.labels.begin(), batch.labels.end());
    const double weight =
        averager ? static_cast<double>(batch.size()) / static_cast<double>(loader.global_batch_size(i)) : 1;
    const tg::Tensor loss =
        step.train(batch.images, tg::from_vector(classes, {batch.size()}, batch.images.dtype()), averager, weight);
    if (averager) allreduce_seconds += averager->last_seconds();
    // The update has run: a loss that is not finite leaves weights that are not either, and the
    // run ends here, before the epoch's checkpoint could save them.
    const double l = loss.item();
    if (!std::isfinite(l))
      throw std::runtime_error("the loss became " + std::to_string(l) + " at batch " + std::to_string(i + 1) +
                               " of the epoch; try a smaller --lr");
    right += count_correct(step.logits(), batch.labels);
    loss_sum += l * batch.size();
    seen += batch.size();
    if (progress) progress(i + 1, seen, loss_sum / seen);
  }
  if (averager) {  // the epoch's figures over all ranks
    const std::vector<double> sums = tg::dist::all_reduce_sum({loss_sum, static_cast<double>(right), static_cast<double>(seen)});
    loss_sum = sums[0];
    right = static_cast<int64_t>(sums[1]);
    seen = static_cast<int64_t>(sums[2]);
  }
  EpochTotals t;
  t.allreduce_seconds = allreduce_seconds;
  t.samples = seen;
  t.mean_loss = seen ? loss_sum / seen : 0;
  t.accuracy = seen ? static_cast<double>(right) / seen : 0;
  return t;
}

Evaluation evaluate(tg::nn::Module& model, const tg::data::Dataset& data, int64_t batch, bool sharded,
                    tg::Dtype precision) {
  const bool was_training = model.is_training();
  model.eval();
  tg::NoGradGuard no_grad;
  tg::AutocastGuard autocast(precision);
  const int64_t ranks = sharded ? tg::dist::size() : 1;
  tg::data::DataLoader loader(data, {.batch_size = std::max<int64_t>(1, batch / ranks), .shuffle = false,
                                     .replicas = ranks, .rank = sharded ? tg::dist::rank() : 0});
  if (sharded) tg::dist::check_loader(loader);  // other test sets would give a wrong mean, silently
  int64_t right = 0;
  double loss_sum = 0;
  for (const tg::data::Batch& b : loader) {
    if (b.size() == 0) continue;
    const tg::Tensor logits = model(b.images);
    right += count_correct(logits, b.labels);
    loss_sum += tg::softmax_cross_entropy(logits, b.labels).item() * b.size();
  }
  model.train(was_training);
  if (sharded) {
    const std::vector<double> sums = tg::dist::all_reduce_sum({loss_sum, static_cast<double>(right)});
    loss_sum = sums[0];
    right = static_cast<int64_t>(sums[1]);
  }
  if (data.size() == 0) return {};
  return {loss_sum / data.size(), static_cast<double>(right) / data.size()};
}

}  // namespace tapegrad_train
