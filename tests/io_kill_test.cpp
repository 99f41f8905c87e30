// A process killed (SIGKILL) at any point of a checkpoint save never leaves a damaged file:
// the target holds either the previous checkpoint or the new one, complete.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <tapegrad/tapegrad.h>
#include <thread>

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

TEST(IoKill, SigkillDuringSaveNeverLeavesADamagedCheckpoint) {
  const fs::path dir = fs::temp_directory_path() / ("tapegrad-kill-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "checkpoint.safetensors").string();
  tg::io::save_safetensors(path, generation(0), {{"generation", "0"}});

  tg::Generator gen(7);
  int last = 0, kills = 0, newer = 0;
  for (int trial = 0; trial < 60; ++trial) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (int k = last + 1;; ++k) tg::io::save_safetensors(path, generation(k), {{"generation", std::to_string(k)}});
    }
    // Kill points spread over the first few saves: from mid-write of the first to several later.
    std::this_thread::sleep_for(std::chrono::microseconds(gen.below(20000)));
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status));
    ++kills;
    int k = loaded_generation(path);
    EXPECT_GE(k, last) << "a checkpoint went back in time";
    if (k > last) ++newer;
    last = k;
  }
  EXPECT_EQ(kills, 60);
  EXPECT_GT(newer, 0) << "no save ever completed: the test did not exercise anything";
  // The next save removes the temporary files the killed saves left behind.
  tg::io::save_safetensors(path, generation(last + 1), {{"generation", std::to_string(last + 1)}});
  for (const auto& entry : fs::directory_iterator(dir))
    EXPECT_EQ(entry.path().filename().string(), "checkpoint.safetensors") << "left behind: " << entry.path();
  EXPECT_EQ(loaded_generation(path), last + 1);
  fs::remove_all(dir);
}
