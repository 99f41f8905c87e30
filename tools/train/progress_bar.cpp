#include "progress_bar.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

#include <tapegrad/dist/comm.h>

namespace tapegrad_train {

bool is_terminal(std::FILE* stream) {
  // A rank cannot see where the launcher writes: Open MPI gives every rank's stdout a
  // pseudo-terminal whether mpirun's own output is a terminal, a pipe or a file.
  if (tapegrad::dist::launched()) return false;
  return ::isatty(::fileno(stream)) == 1;
}

namespace {
int terminal_width(std::FILE* stream) {
  winsize ws{};
  if (::ioctl(::fileno(stream), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}
}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, std::FILE* stream)
    : label_(std::move(label)), total_(std::max<int64_t>(total, 1)), stream_(stream),
      start_(std::chrono::steady_clock::now()), last_draw_(start_) {}

void ProgressBar::update(int64_t done, int64_t samples, double loss) {
  auto now = std::chrono::steady_clock::now();
  if (done < total_ && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  draw(done, samples, loss);
}

void ProgressBar::draw(int64_t done, int64_t samples, double loss) {
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? samples / elapsed : 0;
  const double eta = done > 0 ? elapsed * (total_ - done) / done : 0;
  char stats[128];
  std::snprintf(stats, sizeof stats, " %lld/%lld loss %.4f %.0f samples/s ETA %.0fs", static_cast<long long>(done),
                static_cast<long long>(total_), loss, rate, eta);
  // The bar takes what the label and the figures leave of the line, between 10 and 40 cells.
  const int room = terminal_width(stream_) - static_cast<int>(label_.size() + std::string(stats).size()) - 4;
  const int width = std::clamp(room, 10, 40);
  const int filled = static_cast<int>(width * done / total_);
  std::string bar(filled, '=');
  if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
  std::fprintf(stream_, "\r\033[K%s [%s]%s", label_.c_str(), bar.c_str(), stats);
  std::fflush(stream_);
  drawn_ = true;
}

void ProgressBar::clear() {
  if (!drawn_) return;
  std::fprintf(stream_, "\r\033[K");
  std::fflush(stream_);
  drawn_ = false;
}

}  // namespace tapegrad_train
