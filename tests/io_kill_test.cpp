// A process killed (SIGKILL) at any point of a checkpoint save never leaves a damaged file:
// the target holds either the previous checkpoint or the new one, complete.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <tapegrad/tapegrad.h>
#include <string>
#include <vector>

namespace tg = tapegrad;
namespace fs = std::filesystem;

namespace {
// Generation k: every element of every tensor equals k, and the metadata says k.
tg::NamedTensors generation(int k) {
  return {{"model.weight", tg::full({512, 512}, k, tg::Dtype::f32)},
          {"model.bias", tg::full({512}, k, tg::Dtype::f64)},
          {"optim.0.exp_avg", tg::full({512, 512}, k, tg::Dtype::f32)}};
}

// Loads `path` and returns its generation; fails the test if the tensors disagree with each other.
int loaded_generation(const std::string& path) {
  tg::io::SafetensorsFile f = tg::io::load_safetensors_with_metadata(path);
  int k = std::stoi(f.metadata.at("generation"));
  EXPECT_EQ(f.tensors.size(), 3u);
  for (const auto& [name, t] : f.tensors)
    for (double v : t.to_vector<double>())
      if (v != k) {
        ADD_FAILURE() << name << " holds " << v << " in generation " << k;
        return k;
      }
  return k;
}
}  // namespace

// The child stops itself at a chosen step of the save (a write observer, not a timer): at every
// 4 KiB piece of the data, before the fsync, before the rename, before the directory sync, and
// after the save. The target must hold the previous generation until the rename and the new one
// from then on, whatever the machine's speed.
TEST(IoKill, SigkillDuringSaveNeverLeavesADamagedCheckpoint) {
  const fs::path dir = fs::temp_directory_path() / ("tapegrad-kill-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "checkpoint.safetensors").string();
  tg::io::save_safetensors(path, generation(0), {{"generation", "0"}});
  const uint64_t file_bytes = fs::file_size(path);

  struct KillPoint {
    std::string step;
    uint64_t at_bytes;  // for "write": stop before the first piece that starts at or after this offset
    bool renamed;       // the new generation is in place when it stops
  };
  std::vector<KillPoint> points;
  // Pieces start at most 4 KiB apart, so every offset short of the last piece is reached.
  for (uint64_t at = 0; at + 8192 < file_bytes; at += file_bytes / 40) points.push_back({"write", at, false});
  points.push_back({"fsync", 0, false});
  points.push_back({"rename", 0, false});
  points.push_back({"sync directory", 0, true});
  points.push_back({"done", 0, true});

  int last = 0;
  for (const KillPoint& point : points) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      tg::io::set_write_observer([&point](std::string_view step, uint64_t bytes) {
        if (step == point.step && (step != "write" || bytes >= point.at_bytes)) raise(SIGKILL);
      });
      try {
        tg::io::save_safetensors(path, generation(last + 1), {{"generation", std::to_string(last + 1)}});
      } catch (const std::exception& e) {
        std::fprintf(stderr, "save failed: %s\n", e.what());
        _exit(2);
      }
      _exit(0);  // not reached: every point is on the way
    }
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "the save did not stop at " << point.step << " (status " << status << ")";
    const int k = loaded_generation(path);
    EXPECT_EQ(k, point.renamed ? last + 1 : last) << "killed at " << point.step << " after " << point.at_bytes << " bytes";
    last = k;
  }
  // The next save removes the temporary files the killed saves left behind.
  tg::io::save_safetensors(path, generation(last + 1), {{"generation", std::to_string(last + 1)}});
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string(), "checkpoint.safetensors") << "left behind: " << entry.path();
  EXPECT_EQ(loaded_generation(path), last + 1);
  fs::remove_all(dir);
}
