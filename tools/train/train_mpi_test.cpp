// tapegrad-train under mpirun (data-parallel, 2 ranks): the same weights as one process with the
// ranks' batches together, resumption, and a failing rank ending the job. Skipped when tapegrad
// was built without MPI.
#include <cmath>
#include <string>
#include <vector>

#include "train_harness.h"

using namespace tapegrad_train;
using namespace tapegrad_train::testing;

namespace {

class TrainMpi : public TrainTool {
 protected:
  void SetUp() override {
    if (!tg::dist::available()) GTEST_SKIP() << "tapegrad was built without MPI (apt-get install libopenmpi-dev openmpi-bin)";
    if (std::string(TAPEGRAD_MPIEXEC).empty())
      GTEST_SKIP() << "no mpirun for this build (the sanitizer build: LeakSanitizer reports Open MPI's own allocations)";
    TrainTool::SetUp();
  }
  // `ranks` processes of tapegrad-train with `args`; `timeout` ends a hung job (the test then
  // fails on its exit code), so a hang cannot stall the suite.
  static RunOutput mpirun(int ranks, const std::vector<std::string>& args) {
    return mpirun_mpmd({{ranks, args}});
  }
  // Several programs in one job (mpirun's "a : b" form): rank by rank, each with its arguments.
  static RunOutput mpirun_mpmd(const std::vector<std::pair<int, std::vector<std::string>>>& parts) {
    std::string cmd = "timeout -k 5 60 " + shell_quote(TAPEGRAD_MPIEXEC) + " --allow-run-as-root --oversubscribe";
    for (size_t p = 0; p < parts.size(); ++p) {
      if (p) cmd += " :";
      cmd += " -np " + std::to_string(parts[p].first) + " " + shell_quote(TAPEGRAD_TRAIN_EXE);
      for (const std::string& a : parts[p].second) {
        cmd += ' ';
        cmd += shell_quote(a);
      }
    }
    return run_command(cmd);
  }
};

// `args` with the value of `flag` replaced.
std::vector<std::string> with(std::vector<std::string> args, const std::string& flag, const std::string& value) {
  *(std::find(args.begin(), args.end(), flag) + 1) = value;
  return args;
}

// Largest |a - b| over the elements of two state dicts of one layout.
double max_difference(const tg::NamedTensors& a, const tg::NamedTensors& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const std::vector<double> x = a[i].second.to_vector<double>(), y = b[i].second.to_vector<double>();
    for (size_t k = 0; k < x.size(); ++k) worst = std::max(worst, std::abs(x[k] - y[k]));
  }
  return worst;
}

}  // namespace

// Two ranks of batch 50 take the same steps as one process of batch 100: each global batch is the
// same 100 examples, split between the ranks, and the averaged gradient is the gradient of their
// mean loss. 965 examples make the last batch 65, split 33 / 32 and weighted so.
//
// Tolerance: the gradients agree up to float32 rounding only. Per element, the one-process gradient
// sums 100 products in one order, the two ranks sum 50 each and add the halves; both round at most
// n * u * sum|terms| apart (n = 100 terms, u = 2^-24), and each term is one example's input (in
// [0, 1]) times its output error over the batch size (|softmax - onehot| <= 1, over 100): a bound
// of 100 * 6e-8 * 1 = 6e-6 for the last layer, of the same order through the 16 hidden units
// (weights below 1). At lr 0.1 over 20 steps that is at most 20 * 0.1 * 6e-6 = 1.2e-5 of weight,
// before the training dynamics amplify it a little: 1e-4 leaves margin, while a wrong average
// (a sum, a rank left out, unweighted shares) moves weights by lr * |gradient|, about 1e-2.
TEST_F(TrainMpi, TwoRanksOfBatchBTrainTheWeightsOfOneProcessOfBatch2B) {
  const std::vector<std::string> common{"--epochs", "2", "--limit", "965"};
  RunOutput one = train(with(args("one", common), "--batch-size", "100"));
  ASSERT_EQ(one.exit_code, 0) << one.text;
  std::vector<std::string> a = args("two", common);  // --batch-size 50 per rank
  RunOutput two = mpirun(2, a);
  ASSERT_EQ(two.exit_code, 0) << two.text;
  EXPECT_NE(two.text.find("batch 50 x 2 ranks"), std::string::npos) << two.text;
  // Rank 0 alone prints progress: one summary, one line per epoch.
  size_t summaries = 0;
  for (size_t at = 0; (at = two.text.find("final test accuracy:", at)) != std::string::npos; ++at) ++summaries;
  EXPECT_EQ(summaries, 1u) << two.text;

  LoadedRun r1 = load_run((dir_ / "one" / "checkpoint.safetensors").string());
  LoadedRun r2 = load_run((dir_ / "two" / "checkpoint.safetensors").string());
  EXPECT_EQ(r2.state.ranks, 2);
  EXPECT_EQ(r2.state.batch_size, 50);
  ASSERT_EQ(r1.tensors.model.size(), r2.tensors.model.size());
  const double diff = max_difference(r1.tensors.model, r2.tensors.model);
  EXPECT_LE(diff, 1e-4) << "largest weight difference between 2 ranks x 50 and 1 x 100";
  RecordProperty("max_weight_difference", std::to_string(diff));
  // The epoch figures are sums over the ranks: the same counts as one process (up to the rounding).
  const auto m1 = metrics_from_csv(read_file(dir_ / "one" / "metrics.csv"));
  const auto m2 = metrics_from_csv(read_file(dir_ / "two" / "metrics.csv"));
  ASSERT_EQ(m1.size(), 2u);
  ASSERT_EQ(m2.size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_NEAR(m1[e].train_loss, m2[e].train_loss, 1e-4) << "epoch " << e + 1;
    EXPECT_NEAR(m1[e].test_acc, m2[e].test_acc, 1.0 / 200) << "epoch " << e + 1;  // one example of 200 at most
  }
}

// The same for --model lstm: 2 ranks of batch 32 take the steps of one process of batch 64. SGD
// (lr 0.1), so that a rounding difference in a gradient moves a weight by lr times that difference,
// as in the test above (Adam would divide a near-zero gradient by its own size). The LSTM's
// gradients sum 64 examples' terms over 28 steps, each bounded as above: 1e-4 still leaves
// margin, while a wrong average moves weights by about 1e-2.
TEST_F(TrainMpi, TwoRanksTrainTheLstmOfOneProcessOfTwiceTheBatch) {
  const fs::path images = dir_ / "images28";  // the model reads 28 rows of 28 pixels
  write_dataset(images, 300, 64, 28);
  auto lstm_args = [&](const std::string& out, const std::string& batch) {
    return std::vector<std::string>{"--data", images.string(), "--model", "lstm", "--optimizer", "sgd", "--lr", "0.1",
                                    "--batch-size", batch, "--epochs", "1", "--limit", "300", "--seed", "7",
                                    "--no-plot", "--threads", "1", "--out", (dir_ / out).string()};
  };
  RunOutput one = train(lstm_args("one", "64"));
  ASSERT_EQ(one.exit_code, 0) << one.text;
  RunOutput two = mpirun(2, lstm_args("two", "32"));
  ASSERT_EQ(two.exit_code, 0) << two.text;
  EXPECT_NE(two.text.find("batch 32 x 2 ranks"), std::string::npos) << two.text;
  LoadedRun r1 = load_run((dir_ / "one" / "checkpoint.safetensors").string());
  LoadedRun r2 = load_run((dir_ / "two" / "checkpoint.safetensors").string());
  EXPECT_EQ(r2.state.model, "lstm");
  EXPECT_EQ(r2.state.ranks, 2);
  ASSERT_EQ(r1.tensors.model.size(), r2.tensors.model.size());
  const double diff = max_difference(r1.tensors.model, r2.tensors.model);
  EXPECT_LE(diff, 1e-4) << "largest LSTM weight difference between 2 ranks x 32 and 1 x 64";
  RecordProperty("max_weight_difference", std::to_string(diff));
}

// Resuming a 2-rank run after epoch 1 gives the weights of an uninterrupted 2-rank run, bit for bit
// (the same ranks do the same arithmetic in the same order).
TEST_F(TrainMpi, ResumeUnderMpiGivesTheWeightsOfAnUninterruptedRun) {
  RunOutput whole = mpirun(2, args("whole", {"--epochs", "2", "--optimizer", "momentum"}));
  ASSERT_EQ(whole.exit_code, 0) << whole.text;
  RunOutput first = mpirun(2, args("split", {"--epochs", "1", "--optimizer", "momentum"}));
  ASSERT_EQ(first.exit_code, 0) << first.text;
  RunOutput second = mpirun(2, {"--out", (dir_ / "split").string(), "--resume", "--epochs", "2", "--no-plot"});
  ASSERT_EQ(second.exit_code, 0) << second.text;
  EXPECT_NE(second.text.find("resuming from"), std::string::npos) << second.text;
  LoadedRun a = load_run((dir_ / "whole" / "checkpoint.safetensors").string());
  LoadedRun b = load_run((dir_ / "split" / "checkpoint.safetensors").string());
  EXPECT_TRUE(bit_identical(a.tensors.model, b.tensors.model));
  EXPECT_TRUE(bit_identical(a.tensors.optimizer, b.tensors.optimizer));
  expect_same_metrics(dir_ / "whole", dir_ / "split", 2);

  // Another number of ranks would train another run: refused, saying how to resume.
  RunOutput other = train({"--out", (dir_ / "split").string(), "--resume", "--epochs", "3", "--no-plot"});
  EXPECT_EQ(other.exit_code, 1) << other.text;
  EXPECT_NE(other.text.find("was trained by 2 rank(s)"), std::string::npos) << other.text;
  EXPECT_NE(other.text.find("mpirun -np 2"), std::string::npos) << other.text;
}

// Under MPI too, the compiled step (forward, backward, the average between backward and update,
// then the update) trains the weights of the eager one, bit for bit. 901 examples make the last
// global batch a single example: rank 1's share is empty, so it takes the eager path of a rank
// without a batch (average with weight 0, then update) while rank 0 compiles a step for one row.
TEST_F(TrainMpi, CompiledAndEagerStepsGiveTheSameWeightsWithAnEmptyShare) {
  const std::vector<std::string> common{"--epochs", "2", "--limit", "901", "--optimizer", "momentum"};
  RunOutput compiled = mpirun(2, args("compiled", common));
  ASSERT_EQ(compiled.exit_code, 0) << compiled.text;
  std::vector<std::string> eager = args("eager", common);
  eager.push_back("--no-compile");
  RunOutput e = mpirun(2, eager);
  ASSERT_EQ(e.exit_code, 0) << e.text;
  LoadedRun a = load_run((dir_ / "compiled" / "checkpoint.safetensors").string());
  LoadedRun b = load_run((dir_ / "eager" / "checkpoint.safetensors").string());
  EXPECT_TRUE(bit_identical(a.tensors.model, b.tensors.model));
  EXPECT_TRUE(bit_identical(a.tensors.optimizer, b.tensors.optimizer));
  expect_same_metrics(dir_ / "compiled", dir_ / "eager", 2);
}

// Rank 1 cannot load its data (its host lacks the files) while rank 0 goes on to the first
// collective: the job ends with rank 1's message instead of rank 0 waiting for it forever.
TEST_F(TrainMpi, ARankThatFailsEndsTheJobWithItsMessage) {
  const std::vector<std::string> bad = with(args("out", {"--epochs", "1"}), "--data", (dir_ / "no-data-here").string());
  RunOutput r = mpirun_mpmd({{1, args("out", {"--epochs", "1"})}, {1, bad}});
  EXPECT_NE(r.exit_code, 0) << r.text;
  EXPECT_NE(r.exit_code, 124) << "the job hung until timeout killed it\n" << r.text;
  EXPECT_NE(r.text.find("rank 1: data directory '" + (dir_ / "no-data-here").string() + "' does not exist"),
            std::string::npos)
      << r.text;
}

// Ranks that built different models are refused before any gradient is exchanged, every rank
// naming the rank and the first tensor that differs.
TEST_F(TrainMpi, RanksWithDifferentModelsAreAClearError) {
  RunOutput r = mpirun_mpmd({{1, args("out", {"--epochs", "1"})}, {1, with(args("out", {"--epochs", "1"}), "--hidden", "32")}});
  EXPECT_NE(r.exit_code, 0) << r.text;
  EXPECT_NE(r.exit_code, 124) << "the job hung until timeout killed it\n" << r.text;
  EXPECT_NE(r.text.find("rank 1 has another model than rank 0"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("float32 [64, 32] where rank 0 has"), std::string::npos) << r.text;
}

// Ranks whose datasets differ in size (here --limit) would take different numbers of steps, and
// one would wait for the other's gradients forever: every rank refuses at the start of the epoch.
TEST_F(TrainMpi, RanksWithDatasetsOfOtherSizesAreAClearError) {
  const std::vector<std::string> common = args("out", {"--epochs", "1", "--limit", "965"});
  RunOutput r = mpirun_mpmd({{1, common}, {1, with(common, "--limit", "900")}});
  EXPECT_NE(r.exit_code, 0) << r.text;
  EXPECT_NE(r.exit_code, 124) << "the job hung until timeout killed it\n" << r.text;
  EXPECT_NE(r.text.find("tg::dist::check_loader: rank 1's loader has 900 examples where rank 0's has 965 examples"),
            std::string::npos)
      << r.text;
}

// With its output piped, a job's log is plain text: no progress bar ('\r'), no colour codes
// (ESC), although Open MPI gives each rank a pseudo-terminal for its stdout.
TEST_F(TrainMpi, PipedOutputHasNoEscapeCodes) {
  RunOutput r = mpirun(2, args("out", {"--epochs", "1", "--limit", "400"}));
  ASSERT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("epoch 1/1: train loss"), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find('\r'), std::string::npos) << "a progress bar\n" << r.text;
  EXPECT_EQ(r.text.find('\x1b'), std::string::npos) << "an escape code\n" << r.text;
}
