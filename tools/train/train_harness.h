#pragma once
// The harness of the training program's tests: runs tapegrad-train as a user would (a subprocess,
// directly or under mpirun), writes small MNIST-format datasets, compares checkpoints.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "checkpoint.h"
#include "metrics.h"

namespace tapegrad_train::testing {

namespace fs = std::filesystem;
namespace tg = tapegrad;

struct RunOutput {
  int exit_code = -1;
  std::string text;  // stdout and stderr together
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs the shell command `cmd`, its stdout and stderr together.
inline RunOutput run_command(std::string cmd) {
  cmd += " 2>&1";
  RunOutput r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.text.append(buf, n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs tapegrad-train with `args` (after `env_prefix`, e.g. "PATH=/nonexistent").
inline RunOutput train(const std::vector<std::string>& args, const std::string& env_prefix = "") {
  std::string cmd = env_prefix.empty() ? "" : "/usr/bin/env " + env_prefix + " ";
  cmd += shell_quote(TAPEGRAD_TRAIN_EXE);
  for (const std::string& a : args) {
    cmd += ' ';  // not `cmd += " " + ...`: GCC 12 misreads it (-Wrestrict, bug 105651)
    cmd += shell_quote(a);
  }
  return run_command(cmd);
}

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

inline bool has_gnuplot() { return std::system("command -v gnuplot >/dev/null 2>&1") == 0; }

// An IDX file of unsigned bytes with the given dimensions.
inline std::string idx(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string s{0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xff);
  return s + std::string(data.begin(), data.end());
}

// A small MNIST-format dataset: side x side images of 10 classes, class c lighting the band of
// rows c % 8 (of 8 bands) and, for c >= 8, the band of columns c - 4, over a little deterministic
// noise. Learnable in one or two epochs. At side 8 a band is one row or column.
inline void write_dataset(const fs::path& dir, uint32_t train_n, uint32_t test_n, uint32_t side = 8) {
  fs::create_directories(dir);
  uint32_t state = 12345;
  auto noise = [&] { return static_cast<uint8_t>((state = state * 1103515245u + 12345u) >> 27); };
  const uint32_t pixels = side * side;
  for (auto [stem, n] : {std::pair{"train", train_n}, std::pair{"t10k", test_n}}) {
    std::vector<uint8_t> images(n * pixels), labels(n);
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t c = (i * 7 + (stem[0] == 't' && stem[1] == '1' ? 3 : 0)) % 10;
      labels[i] = static_cast<uint8_t>(c);
      for (uint32_t p = 0; p < pixels; ++p) {
        const uint32_t row_band = p / side * 8 / side, column_band = p % side * 8 / side;
        const bool lit = row_band == c % 8 || (c >= 8 && column_band == c - 4);
        images[i * pixels + p] = static_cast<uint8_t>(lit ? 200 + noise() : noise());
      }
    }
    write_file(dir / (std::string(stem) + "-images-idx3-ubyte"), idx({n, side, side}, images));
    write_file(dir / (std::string(stem) + "-labels-idx1-ubyte"), idx({n}, labels));
  }
}

// Two runs' metrics.csv agree epoch by epoch, but for the timings.
inline void expect_same_metrics(const fs::path& a, const fs::path& b, size_t epochs) {
  auto ra = metrics_from_csv(read_file(a / "metrics.csv"));
  auto rb = metrics_from_csv(read_file(b / "metrics.csv"));
  ASSERT_EQ(ra.size(), epochs);
  ASSERT_EQ(rb.size(), epochs);
  for (size_t i = 0; i < epochs; ++i) {
    EXPECT_EQ(ra[i].train_loss, rb[i].train_loss) << "epoch " << i + 1;
    EXPECT_EQ(ra[i].train_acc, rb[i].train_acc) << "epoch " << i + 1;
    EXPECT_EQ(ra[i].test_loss, rb[i].test_loss) << "epoch " << i + 1;
    EXPECT_EQ(ra[i].test_acc, rb[i].test_acc) << "epoch " << i + 1;
    EXPECT_EQ(ra[i].lr, rb[i].lr) << "epoch " << i + 1;
  }
}

// Every tensor of `a` equals `b`'s, bit for bit, in the same order.
inline ::testing::AssertionResult bit_identical(const tg::NamedTensors& a, const tg::NamedTensors& b) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << a.size() << " tensors vs " << b.size();
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& [na, ta] = a[i];
    const auto& [nb, tb] = b[i];
    if (na != nb) return ::testing::AssertionFailure() << "tensor " << i << " is '" << na << "' vs '" << nb << "'";
    if (ta.shape() != tb.shape() || ta.dtype() != tb.dtype())
      return ::testing::AssertionFailure() << "'" << na << "' differs in shape or dtype";
    if (std::memcmp(ta.raw_data(), tb.raw_data(), ta.numel() * tg::dtype_size(ta.dtype())) != 0)
      return ::testing::AssertionFailure() << "'" << na << "' differs in value";
  }
  return ::testing::AssertionSuccess();
}

class TrainTool : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "_" + info->name();
    for (char& c : name)
      if (c == '/') c = '_';
    dir_ = fs::temp_directory_path() / ("tapegrad_train_test_" + std::to_string(::getpid()) + "_" + name);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    data_ = dir_ / "data";
    write_dataset(data_, 1000, 200);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  // Common arguments: the synthetic data, a small net, output in `out`.
  std::vector<std::string> args(const std::string& out, std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"--data", data_.string(), "--hidden", "16", "--batch-size", "50", "--seed", "7",
                               "--no-plot", "--out", (dir_ / out).string()};
    if (std::find(extra.begin(), extra.end(), "--threads") == extra.end()) extra.insert(extra.end(), {"--threads", "1"});
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  fs::path dir_, data_;
};


}  // namespace tapegrad_train::testing
