#pragma once
/// \file metrics.h
/// Per-epoch figures of a run and their CSV form (metrics.csv, also kept in the checkpoint).
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad_train {

/// What one epoch measured.
struct EpochMetrics {
  int64_t epoch = 0;      ///< 1-based
  double train_loss = 0;  ///< mean cross-entropy over the epoch's mini-batches
  double train_acc = 0;   ///< fraction of training examples classified right (before each update)
  double test_loss = 0;   ///< mean cross-entropy over the test examples after the epoch (NaN: not measured)
  double test_acc = 0;    ///< fraction of test examples classified right after the epoch
  double seconds = 0;     ///< wall time of the epoch's training and evaluation
  double lr = 0;          ///< the optimizer's learning rate during the epoch (NaN: not recorded)
};

/// The header line of metrics.csv (lr last, so that the columns before it keep their numbers).
inline constexpr const char* kMetricsHeader = "epoch,train_loss,train_acc,test_loss,test_acc,seconds,lr";
/// The header of checkpoints written before the lr was recorded; still read (lr NaN).
inline constexpr const char* kMetricsHeaderWithoutLr = "epoch,train_loss,train_acc,test_loss,test_acc,seconds";
/// The header of checkpoints written before the test loss was measured; still read (test_loss and lr NaN).
inline constexpr const char* kMetricsHeaderWithoutTestLoss = "epoch,train_loss,train_acc,test_acc,seconds";

/// CSV text: the header, then one line per epoch (losses with 6 decimals, accuracies with 4, the lr
/// with 6 significant digits; a value that was not measured is written as nan, which gnuplot
/// leaves out).
std::string metrics_to_csv(const std::vector<EpochMetrics>& rows);

/// Parses what metrics_to_csv wrote; throws std::runtime_error naming the line on bad input.
std::vector<EpochMetrics> metrics_from_csv(const std::string& text);

}  // namespace tapegrad_train
