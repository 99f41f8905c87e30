#include "metrics.h"

#include <cmath>
#include <cstdio>
#include <sstream>
#include <stdexcept>

namespace tapegrad_train {

std::string metrics_to_csv(const std::vector<EpochMetrics>& rows) {
  std::string out = std::string(kMetricsHeader) + "\n";
  char line[192];
  for (const EpochMetrics& m : rows) {
    std::snprintf(line, sizeof line, "%lld,%.6f,%.4f,%.6f,%.4f,%.3f,%.6g\n", static_cast<long long>(m.epoch),
                  m.train_loss, m.train_acc, m.test_loss, m.test_acc, m.seconds, m.lr);
    out += line;
  }
  return out;
}

std::vector<EpochMetrics> metrics_from_csv(const std::string& text) {
  std::vector<EpochMetrics> rows;
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) ||
      (line != kMetricsHeader && line != kMetricsHeaderWithoutLr && line != kMetricsHeaderWithoutTestLoss))
    throw std::runtime_error("metrics CSV: expected the header '" + std::string(kMetricsHeader) + "', found '" +
                             line + "'");
  // Older files lack the last columns: the fields they have, in order, and the rest NaN.
  const int fields = line == kMetricsHeader ? 7 : line == kMetricsHeaderWithoutLr ? 6 : 5;
  for (int n = 2; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    EpochMetrics m;
    long long epoch = 0;
    char tail = 0;
    m.test_loss = NAN;
    m.lr = NAN;
    const int got = fields == 5 ? std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf%c", &epoch, &m.train_loss,
                                              &m.train_acc, &m.test_acc, &m.seconds, &tail)
                    : fields == 6 ? std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf,%lf%c", &epoch, &m.train_loss,
                                                &m.train_acc, &m.test_loss, &m.test_acc, &m.seconds, &tail)
                                  : std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf,%lf,%lf%c", &epoch, &m.train_loss,
                                                &m.train_acc, &m.test_loss, &m.test_acc, &m.seconds, &m.lr, &tail);
    if (got != fields)
      throw std::runtime_error("metrics CSV line " + std::to_string(n) + ": expected " + std::to_string(fields) +
                               " numbers, found '" + line + "'");
    m.epoch = epoch;
    rows.push_back(m);
  }
  return rows;
}

}  // namespace tapegrad_train
