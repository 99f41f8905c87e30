#pragma once
/// \file progress_bar.h
/// A one-line progress bar for a terminal: batches done, running loss, throughput, time left.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace tapegrad_train {

/// Redraws one line of `stream` in place with '\r'. Construct it only when the stream is a
/// terminal (see is_terminal): piped output gets plain log lines instead.
class ProgressBar {
 public:
  /// A bar for `total` steps labelled `label` (e.g. "epoch 3/10").
  ProgressBar(std::string label, int64_t total, std::FILE* stream = stdout);
  /// Records that `done` steps are finished, `samples` examples seen so far and the running
  /// mean loss; redraws at most every 100 ms, and always on the last step.
  void update(int64_t done, int64_t samples, double loss);
  /// Erases the bar so that the next line of output starts clean.
  void clear();

 private:
  void draw(int64_t done, int64_t samples, double loss);
  std::string label_;
  int64_t total_;
  std::FILE* stream_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

/// True if `stream` is attached to a terminal we may draw on and colour: never in a process an
/// MPI launcher started, whose stdout Open MPI makes a pseudo-terminal even when mpirun's output
/// is piped to a file.
bool is_terminal(std::FILE* stream);

}  // namespace tapegrad_train
