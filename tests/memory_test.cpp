// Large graphs run backward without recursion, and their memory goes back afterwards.
#include <gtest/gtest.h>

#include <malloc.h>

#include <fstream>
#include <string>
#include <thread>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {
// Resident set size of this process in MiB, from /proc/self/statm.
double rss_mib() {
  std::ifstream statm("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  statm >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * 4096.0 / (1024.0 * 1024.0);
}
// Gives every freed block back: the tape's spare slots, the tensor cache, and malloc's free lists.
void release_everything() {
  tg::Tape::current().shrink();
  tg::empty_cache();
  malloc_trim(0);
}
}  // namespace

TEST(Memory, TenMillionScalarOpsRunBackwardAndReturnTheirMemory) {
  release_everything();
  const double baseline = rss_mib();
  double peak = 0;
  const size_t live_before = tg::Tape::current().live_nodes();  // other tests in this process may hold graphs
  {
    auto x = tg::tensor(1.0).requires_grad(true);
    auto c = tg::tensor(0.5);
    tg::Tensor y = x;
    for (int i = 0; i < 5000000; ++i) {
      y = y * c;
      y = y + c;
    }
    EXPECT_EQ(tg::Tape::current().live_nodes(), live_before + 10000000u);
    peak = rss_mib();
    y.backward();
    // d/dx of the affine chain is 0.5^5e6, which underflows to 0 in float32: the value is not
    // the point here, finishing without a stack overflow is.
    EXPECT_EQ(x.grad().item(), 0.0f);
    EXPECT_LE(tg::Tape::current().live_nodes(), live_before);  // backward also collects dropped graphs
  }
  release_everything();
  const double after = rss_mib();
  EXPECT_GT(peak - baseline, 500.0) << "the graph should have been large";
  EXPECT_LT(after - baseline, 50.0) << "baseline " << baseline << " MiB, peak " << peak << " MiB, after " << after
                                    << " MiB";
}

TEST(Memory, DestroyingATapeReleasesItsNodes) {
  release_everything();
  const double baseline = rss_mib();
  std::thread worker([] {
    auto x = tg::ones({100}).requires_grad(true);
    tg::Tensor y = x;
    for (int i = 0; i < 200000; ++i) y = y * 1.0;  // recorded, never run backward
  });  // the thread's tape and cache are destroyed when it exits
  worker.join();
  malloc_trim(0);
  EXPECT_LT(rss_mib() - baseline, 50.0);
}

TEST(Memory, SteadyStateTrainingStepsDoNotCallMalloc) {
  tg::Generator gen(3);
  auto X = tg::randn({32, 20}, gen), W = tg::randn({20, 10}, gen).requires_grad(true);
  auto b = tg::zeros({10}).requires_grad(true);
  std::vector<int64_t> labels(32, 3);
  auto step = [&] {
    auto loss = tg::softmax_cross_entropy(tg::relu(tg::matmul(X, W) + b), labels);
    loss.backward();
    tg::NoGradGuard g;
    W.add_(W.grad(), -0.1);
    b.add_(b.grad(), -0.1);
    W.zero_grad();
    b.zero_grad();
  };
  for (int i = 0; i < 3; ++i) step();
  const auto before = tg::memory_stats();
  for (int i = 0; i < 100; ++i) step();
  const auto after = tg::memory_stats();
  EXPECT_GT(after.allocations, before.allocations);
  EXPECT_EQ(after.system_allocations, before.system_allocations);
}
