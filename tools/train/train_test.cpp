// tapegrad-train run as a user runs it (a subprocess) on small data: its outputs, bit-exact
// resumption, and its error messages.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
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
#include "train_harness.h"

namespace fs = std::filesystem;
namespace tg = tapegrad;
using namespace tapegrad_train;

using namespace tapegrad_train::testing;

TEST_F(TrainTool, TwoEpochsOnASubsetWriteCheckpointCsvAndPlot) {
  // Fashion-MNIST when installed (the real thing, cut short), else the synthetic set.
  const bool real = fs::exists(std::string(tg::data::kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
  const fs::path out = dir_ / "run";
  // The synthetic set gives only 10 steps an epoch: at the default lr 0.1 the first epoch's test
  // accuracy sits anywhere from 0.1 to 0.7 depending on the last bits of the CPU's sums (0.1 on an
  // AVX-512 FP16 Xeon), so it trains at 0.5, where every epoch clears 0.8 on every machine tried.
  std::vector<std::string> a{"--data", real ? tg::data::kFashionMnistDir : data_.string(), "--limit", "2000",
                             "--test-limit", "500", "--epochs", "2", "--out", out.string(), "--threads", "1"};
  if (!real) a.insert(a.end(), {"--lr", "0.5"});
  RunOutput r = train(a);
  ASSERT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("epoch 1/2: train loss"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("final test accuracy: "), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find("\r"), std::string::npos) << "no progress bar when stdout is not a terminal";

  // metrics.csv: the header and one row per epoch, with sensible values.
  std::vector<EpochMetrics> rows = metrics_from_csv(read_file(out / "metrics.csv"));
  ASSERT_EQ(rows.size(), 2u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].epoch, static_cast<int64_t>(i + 1));
    EXPECT_GT(rows[i].train_loss, 0);
    EXPECT_GT(rows[i].test_loss, 0);
    EXPECT_LT(rows[i].test_loss, 2.302585) << "below the loss of a uniform guess over 10 classes, ln 10";
    EXPECT_GT(rows[i].test_acc, 0.3) << "the net should beat chance (0.1) clearly";
    EXPECT_LE(rows[i].test_acc, 1.0);
    EXPECT_GT(rows[i].seconds, 0);
    EXPECT_EQ(rows[i].lr, real ? 0.1 : 0.5) << "the lr column holds the epoch's learning rate";
  }
  EXPECT_LT(rows[1].train_loss, rows[0].train_loss);
  EXPECT_NE(read_file(out / "metrics.csv").find(kMetricsHeader), std::string::npos);

  // The checkpoint loads and holds the 784-50-10 (or 64-50-10) net, SGD state and the metadata.
  LoadedRun run = load_run((out / "checkpoint.safetensors").string());
  EXPECT_EQ(run.state.epochs_done, 2);
  EXPECT_EQ(run.state.hidden, std::vector<int64_t>{50});
  EXPECT_EQ(run.state.model, "mlp");
  EXPECT_EQ(run.state.optimizer, "sgd");
  EXPECT_EQ(run.state.lr, real ? 0.1 : 0.5);
  EXPECT_EQ(run.state.batch_size, 100);
  EXPECT_EQ(run.state.limit, 2000);
  EXPECT_EQ(run.state.history.size(), 2u);
  ASSERT_EQ(run.tensors.model.size(), 4u);
  EXPECT_EQ(run.tensors.model[0].first, "0.weight");
  EXPECT_EQ(run.tensors.model[0].second.shape(), (tg::Shape{real ? 784 : 64, 50}));
  EXPECT_EQ(run.tensors.model[3].second.shape(), (tg::Shape{10}));
  EXPECT_FALSE(run.tensors.optimizer.empty());

  if (has_gnuplot()) {
    const std::string png = read_file(out / "curves.png");
    ASSERT_GE(png.size(), 8u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_NE(read_file(out / "curves.gp").find("set terminal pngcairo"), std::string::npos);
  }
  // No temporary file is left behind by the atomic writes.
  for (const auto& f : fs::directory_iterator(out))
    EXPECT_EQ(f.path().filename().string().find(".tmp."), std::string::npos) << f.path();
}

class TrainResume : public TrainTool, public ::testing::WithParamInterface<const char*> {};

TEST_P(TrainResume, ResumingAfterEpochOneGivesBitIdenticalWeights) {
  const std::string opt = GetParam();
  RunOutput whole = train(args("whole", {"--optimizer", opt, "--epochs", "2"}));
  ASSERT_EQ(whole.exit_code, 0) << whole.text;
  RunOutput first = train(args("split", {"--optimizer", opt, "--epochs", "1"}));
  ASSERT_EQ(first.exit_code, 0) << first.text;
  // The resumed run takes its settings from the checkpoint: none repeated here but --epochs.
  RunOutput second = train({"--out", (dir_ / "split").string(), "--resume", "--epochs", "2", "--no-plot"});
  ASSERT_EQ(second.exit_code, 0) << second.text;
  EXPECT_NE(second.text.find("resuming from"), std::string::npos) << second.text;
  EXPECT_EQ(second.text.find("epoch 1/2"), std::string::npos) << "epoch 1 must not run again\n" << second.text;

  LoadedRun a = load_run((dir_ / "whole" / "checkpoint.safetensors").string());
  LoadedRun b = load_run((dir_ / "split" / "checkpoint.safetensors").string());
  EXPECT_TRUE(bit_identical(a.tensors.model, b.tensors.model));
  EXPECT_TRUE(bit_identical(a.tensors.optimizer, b.tensors.optimizer));
  EXPECT_EQ(b.state.epochs_done, 2);

  // The CSV of the resumed run keeps epoch 1 and matches the whole run but for the timings.
  expect_same_metrics(dir_ / "whole", dir_ / "split", 2);
}

// A checkpoint written before the test loss was measured keeps its history: the old CSV form still
// reads, with the test loss not a number (gnuplot leaves such points out), and writes back in the
// new form.
TEST(TrainMetrics, TheFormWithoutATestLossStillReads) {
  const auto rows = metrics_from_csv("epoch,train_loss,train_acc,test_acc,seconds\n1,0.5,0.8,0.79,1.5\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].test_acc, 0.79);
  EXPECT_TRUE(std::isnan(rows[0].test_loss));
  EXPECT_EQ(metrics_to_csv(rows), std::string(kMetricsHeader) + "\n1,0.500000,0.8000,nan,0.7900,1.500,nan\n");
  EXPECT_THROW(metrics_from_csv("epoch,train_loss,train_acc,test_acc,seconds\n1,0.5,0.8,0.1,0.79,1.5\n"),
               std::runtime_error);
}

// So does one written before the lr column: the lr is not a number, and the rest reads as written.
TEST(TrainMetrics, TheFormWithoutAnLrStillReads) {
  const auto rows =
      metrics_from_csv("epoch,train_loss,train_acc,test_loss,test_acc,seconds\n1,0.5,0.8,0.6,0.79,1.5\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].test_loss, 0.6);
  EXPECT_EQ(rows[0].seconds, 1.5);
  EXPECT_TRUE(std::isnan(rows[0].lr));
  EXPECT_EQ(metrics_to_csv(rows), std::string(kMetricsHeader) + "\n1,0.500000,0.8000,0.600000,0.7900,1.500,nan\n");
  EXPECT_THROW(metrics_from_csv(std::string(kMetricsHeader) + "\n1,0.5,0.8,0.6,0.79,1.5\n"), std::runtime_error);
  EXPECT_EQ(metrics_from_csv(metrics_to_csv({{.epoch = 2, .lr = 0.0488}}))[0].lr, 0.0488);
}

INSTANTIATE_TEST_SUITE_P(Optimizers, TrainResume, ::testing::Values("sgd", "momentum", "adam"));

TEST_F(TrainTool, ThreadCountDoesNotChangeTheWeights) {
  ASSERT_EQ(train(args("one", {"--epochs", "1"})).exit_code, 0);
  ASSERT_EQ(train(args("two", {"--epochs", "1", "--threads", "2"})).exit_code, 0);
  EXPECT_TRUE(bit_identical(load_run((dir_ / "one" / "checkpoint.safetensors").string()).tensors.model,
                            load_run((dir_ / "two" / "checkpoint.safetensors").string()).tensors.model));
}

// The compiled step (the default) and the eager one (--no-compile) train the same weights, bit for
// bit, across epochs and a smaller last batch (970 examples: 19 batches of 50, then 20).
TEST_F(TrainTool, CompiledAndEagerStepsGiveTheSameWeights) {
  ASSERT_EQ(train(args("compiled", {"--epochs", "2", "--limit", "970", "--optimizer", "momentum"})).exit_code, 0);
  ASSERT_EQ(train(args("eager", {"--epochs", "2", "--limit", "970", "--optimizer", "momentum", "--no-compile"})).exit_code, 0);
  EXPECT_TRUE(bit_identical(load_run((dir_ / "compiled" / "checkpoint.safetensors").string()).tensors.model,
                            load_run((dir_ / "eager" / "checkpoint.safetensors").string()).tensors.model));
  // The accuracy counts read the logits each step kept: the same too (each batch shape has its own).
  expect_same_metrics(dir_ / "compiled", dir_ / "eager", 2);
}

// A loss that is no longer finite ends the run with its message. The compiled step has applied
// that batch's update when the loss is seen (the eager one too): what matters is that nothing is
// saved after it, so the checkpoint an earlier run left in the same --out stays as it was.
TEST_F(TrainTool, ALossThatIsNotFiniteEndsTheRunAndSavesNothing) {
  ASSERT_EQ(train(args("out", {"--epochs", "1"})).exit_code, 0);
  const fs::path checkpoint = dir_ / "out" / "checkpoint.safetensors";
  const std::string saved = read_file(checkpoint), csv = read_file(dir_ / "out" / "metrics.csv");
  for (const bool compiled : {true, false}) {
    std::vector<std::string> a = args("out", {"--epochs", "2", "--lr", "1e30"});
    if (!compiled) a.push_back("--no-compile");
    RunOutput r = train(a);
    EXPECT_EQ(r.exit_code, 1) << r.text;
    EXPECT_NE(r.text.find("the loss became"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("of the epoch; try a smaller --lr"), std::string::npos) << r.text;
    EXPECT_EQ(r.text.find("epoch 1/2: train loss"), std::string::npos) << "no epoch may finish\n" << r.text;
    EXPECT_TRUE(read_file(checkpoint) == saved) << (compiled ? "compiled" : "eager") << ": the checkpoint changed";
    EXPECT_TRUE(read_file(dir_ / "out" / "metrics.csv") == csv) << (compiled ? "compiled" : "eager");
  }
}

TEST_F(TrainTool, MissingDataDirectoryIsAClearError) {
  RunOutput r = train({"--data", (dir_ / "no-such-dir").string(), "--out", (dir_ / "out").string()});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("data directory '" + (dir_ / "no-such-dir").string() + "' does not exist"), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("apt-get install dataset-fashion-mnist"), std::string::npos) << r.text;
}

TEST_F(TrainTool, MissingDataFileIsAClearError) {
  fs::remove(data_ / "t10k-labels-idx1-ubyte");
  RunOutput r = train(args("out"));
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("cannot load the test data"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("t10k-labels-idx1-ubyte"), std::string::npos) << r.text;
}

TEST_F(TrainTool, TruncatedImageFileIsAClearError) {
  const fs::path images = data_ / "train-images-idx3-ubyte";
  fs::resize_file(images, fs::file_size(images) - 100);
  RunOutput r = train(args("out"));
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("cannot load the training data"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("train-images-idx3-ubyte"), std::string::npos) << r.text;
}

TEST_F(TrainTool, CorruptGzipFileIsAClearError) {
  fs::remove(data_ / "train-labels-idx1-ubyte");
  static const char kCorrupt[] = "\x1f\x8b\x08\x00garbage, not deflate";  // gzip magic, then junk
  write_file(data_ / "train-labels-idx1-ubyte.gz", std::string(kCorrupt, sizeof kCorrupt - 1));
  RunOutput r = train(args("out"));
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("train-labels-idx1-ubyte.gz"), std::string::npos) << r.text;
}

TEST_F(TrainTool, CorruptCheckpointIsAClearErrorOnResume) {
  ASSERT_EQ(train(args("out", {"--epochs", "1"})).exit_code, 0);
  const fs::path ckpt = dir_ / "out" / "checkpoint.safetensors";
  std::string bytes = read_file(ckpt);
  write_file(ckpt, bytes.substr(0, bytes.size() / 2));
  RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("cannot load checkpoint"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("checkpoint.safetensors"), std::string::npos) << r.text;
}

// A checkpoint's settings replace the command line's on --resume, so they are held to the same
// ranges: each edited value below is refused with the file, the entry and what was expected.
TEST_F(TrainTool, ResumeRefusesSettingsTheCommandLineWouldRefuse) {
  ASSERT_EQ(train(args("out", {"--epochs", "1"})).exit_code, 0);
  const fs::path ckpt = dir_ / "out" / "checkpoint.safetensors";
  const tg::io::SafetensorsFile good = tg::io::load_safetensors_with_metadata(ckpt.string());
  const std::vector<std::pair<std::string, std::string>> bad{
      {"batch_size", "0"}, {"epoch", "100001"}, {"lr", "nan"}, {"lr", "-0.1"}, {"optimizer", "lbfgs"},
      {"inputs", "0"},     {"classes", "-3"},   {"limit", "x"},     {"model", "rnn"},
      {"lr_schedule", "step"}, {"total_epochs", "0"}};
  for (const auto& [key, value] : bad) {
    tg::io::Metadata m = good.metadata;
    m[key] = value;
    tg::io::save_safetensors(ckpt.string(), good.tensors, m);
    RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--no-plot"});
    EXPECT_EQ(r.exit_code, 1) << key << "=" << value << ": " << r.text;
    EXPECT_NE(r.text.find("checkpoint '" + ckpt.string() + "': metadata '" + key + "' is '" + value + "', expected"),
              std::string::npos)
        << key << "=" << value << ": " << r.text;
  }
}

TEST_F(TrainTool, ResumingAFinishedRunTrainsNothingAndReportsItsAccuracy) {
  ASSERT_EQ(train(args("out", {"--epochs", "1"})).exit_code, 0);
  const std::string before = read_file(dir_ / "out" / "checkpoint.safetensors");
  RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "1", "--no-plot"});
  EXPECT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("nothing to train"), std::string::npos) << r.text;
  const auto rows = metrics_from_csv(read_file(dir_ / "out" / "metrics.csv"));
  ASSERT_EQ(rows.size(), 1u);
  char expected[64];
  std::snprintf(expected, sizeof expected, "final test accuracy: %.2f%%", 100 * rows[0].test_acc);
  EXPECT_NE(r.text.find(expected), std::string::npos) << r.text;
  EXPECT_EQ(read_file(dir_ / "out" / "checkpoint.safetensors"), before);
}

TEST_F(TrainTool, ResumeWithoutACheckpointIsAClearError) {
  RunOutput r = train({"--out", (dir_ / "empty").string(), "--resume"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--resume: no checkpoint at"), std::string::npos) << r.text;
}

TEST_F(TrainTool, ResumeWithOtherSettingsIsRefused) {
  ASSERT_EQ(train(args("out", {"--epochs", "1"})).exit_code, 0);
  RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--hidden", "32,16"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--hidden 32,16 differs from the checkpoint's 16"), std::string::npos) << r.text;
  r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--model", "cnn"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--model cnn differs from the checkpoint's mlp"), std::string::npos) << r.text;
  r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--lr-schedule", "cosine"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--lr-schedule cosine differs from the checkpoint's constant"), std::string::npos) << r.text;
}

// --precision bf16: autocast's products, recorded in the checkpoint; a resumed run keeps it. The
// loss must fall as in float32 (the accuracy target is run by benchmarks/run.sh on the full set).
TEST_F(TrainTool, Bf16PrecisionTrainsAndIsRecordedInTheCheckpoint) {
  RunOutput r = train(args("mixed", {"--epochs", "1", "--precision", "bf16"}));
  ASSERT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("precision: bf16 autocast, products as "), std::string::npos) << r.text;
  const tg::io::Checkpoint c = tg::io::load_checkpoint((dir_ / "mixed" / "checkpoint.safetensors").string());
  EXPECT_EQ(c.metadata.at("precision"), "bf16");
  for (const auto& [name, t] : c.model) EXPECT_EQ(t.dtype(), tg::Dtype::f32) << name << ": master weights stay float32";
  const auto rows = metrics_from_csv(read_file(dir_ / "mixed" / "metrics.csv"));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_GT(rows[0].test_acc, 0.3) << "the net should beat chance (0.1) clearly";
  // Resumed without the flag it keeps bf16; with another precision it is refused.
  r = train({"--out", (dir_ / "mixed").string(), "--resume", "--epochs", "2", "--no-plot", "--threads", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("precision: bf16 autocast"), std::string::npos) << r.text;
  r = train({"--out", (dir_ / "mixed").string(), "--resume", "--epochs", "3", "--precision", "f32"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--precision f32 differs from the checkpoint's bf16"), std::string::npos) << r.text;
  // A float32 run records f32.
  ASSERT_EQ(train(args("plain", {"--epochs", "1"})).exit_code, 0);
  EXPECT_EQ(tg::io::load_checkpoint((dir_ / "plain" / "checkpoint.safetensors").string()).metadata.at("precision"), "f32");
}

// A cosine over 3 epochs gives epochs 2 and 3 lr 0.075 and 0.025 (of 0.1). Cut after epoch 1 and
// resumed, the run must take them up from the epoch count, not start the cosine over (lr 0.1) nor
// anneal from the lr the checkpoint's optimizer saved (0: the end of a 1-epoch cosine).
TEST_F(TrainTool, ResumingACosineScheduleGivesBitIdenticalWeights) {
  RunOutput whole = train(args("whole", {"--lr-schedule", "cosine", "--epochs", "3"}));
  ASSERT_EQ(whole.exit_code, 0) << whole.text;
  EXPECT_NE(whole.text.find("sgd lr 0.1 cosine, batch 50, seed 7"), std::string::npos) << whole.text;
  RunOutput first = train(args("split", {"--lr-schedule", "cosine", "--epochs", "1"}));
  ASSERT_EQ(first.exit_code, 0) << first.text;
  EXPECT_EQ(load_run((dir_ / "split" / "checkpoint.safetensors").string()).state.lr_schedule, "cosine");
  RunOutput second = train({"--out", (dir_ / "split").string(), "--resume", "--epochs", "3", "--no-plot"});
  ASSERT_EQ(second.exit_code, 0) << second.text;
  EXPECT_EQ(second.text.find("re-planned"), std::string::npos) << "epoch 1 takes --lr for any total\n" << second.text;
  for (const RunOutput* r : {&whole, &second}) {
    EXPECT_NE(r->text.find("epoch 2/3: "), std::string::npos) << r->text;
    EXPECT_NE(r->text.find(", lr 0.075, "), std::string::npos) << r->text;
    EXPECT_NE(r->text.find(", lr 0.025, "), std::string::npos) << r->text;
  }
  EXPECT_NE(whole.text.find(", lr 0.1, "), std::string::npos) << whole.text;

  LoadedRun a = load_run((dir_ / "whole" / "checkpoint.safetensors").string());
  LoadedRun b = load_run((dir_ / "split" / "checkpoint.safetensors").string());
  EXPECT_TRUE(bit_identical(a.tensors.model, b.tensors.model));
  EXPECT_TRUE(bit_identical(a.tensors.optimizer, b.tensors.optimizer)) << "\"lr\" included";
  EXPECT_EQ(b.state.epochs_done, 3);
  EXPECT_EQ(b.state.total_epochs, 3);
  // metrics.csv records each epoch's lr, the resumed run's too.
  for (const char* run : {"whole", "split"}) {
    const auto rows = metrics_from_csv(read_file(dir_ / run / "metrics.csv"));
    ASSERT_EQ(rows.size(), 3u) << run;
    EXPECT_EQ(rows[0].lr, 0.1) << run;
    EXPECT_EQ(rows[1].lr, 0.075) << run;
    EXPECT_EQ(rows[2].lr, 0.025) << run;
  }
}

// Past epoch 1, a cosine over a new total no longer matches the epochs done: say so, and go on.
TEST_F(TrainTool, ExtendingACosineRunWarnsThatItIsReplanned) {
  ASSERT_EQ(train(args("out", {"--lr-schedule", "cosine", "--epochs", "2"})).exit_code, 0);
  RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "3", "--no-plot"});
  EXPECT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("--epochs 3 differs from the checkpoint's 2: from epoch 3 on, the cosine schedule is re-planned "
                        "over 3 epochs"),
            std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("epoch 3/3: "), std::string::npos) << r.text;
}

// Checkpoints from before --model have no "model" entry; they hold an MLP and still resume.
TEST_F(TrainTool, ACheckpointWithoutAModelEntryIsAnMlp) {
  ASSERT_EQ(train(args("out", {"--epochs", "1"})).exit_code, 0);
  const fs::path ckpt = dir_ / "out" / "checkpoint.safetensors";
  tg::io::SafetensorsFile old = tg::io::load_safetensors_with_metadata(ckpt.string());
  ASSERT_EQ(old.metadata.erase("model"), 1u);
  tg::io::save_safetensors(ckpt.string(), old.tensors, old.metadata);
  EXPECT_EQ(load_run(ckpt.string()).state.model, "mlp");
  RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--no-plot"});
  EXPECT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("epoch 2/2: train loss"), std::string::npos) << r.text;
  EXPECT_EQ(load_run(ckpt.string()).state.model, "mlp");
}

TEST_F(TrainTool, WithoutGnuplotThePlotIsSkippedAndTheRunSucceeds) {
  std::vector<std::string> a = args("out", {"--epochs", "1"});
  a.erase(std::find(a.begin(), a.end(), "--no-plot"));
  RunOutput r = train(a, "PATH=" + (dir_ / "empty-path").string());
  EXPECT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("plot skipped: gnuplot not found"), std::string::npos) << r.text;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "curves.png"));
  EXPECT_TRUE(fs::exists(dir_ / "out" / "metrics.csv"));
}

TEST_F(TrainTool, BadOptionsAreUsageErrors) {
  RunOutput r = train({"--hidden", "50,x"});
  EXPECT_EQ(r.exit_code, 2) << r.text;
  EXPECT_NE(r.text.find("hidden layer width 'x'"), std::string::npos) << r.text;
  r = train({"--optimizer", "lbfgs"});
  EXPECT_EQ(r.exit_code, 2) << r.text;
  EXPECT_NE(r.text.find("lbfgs"), std::string::npos) << r.text;
  r = train({"--model", "rnn"});
  EXPECT_EQ(r.exit_code, 2) << r.text;
  EXPECT_NE(r.text.find("rnn"), std::string::npos) << r.text;
  r = train({"--model", "cnn", "--hidden", "16"});
  EXPECT_EQ(r.exit_code, 2) << r.text;
  EXPECT_NE(r.text.find("--hidden applies to --model mlp"), std::string::npos) << r.text;
  r = train({"--lr-schedule", "step"});
  EXPECT_EQ(r.exit_code, 2) << r.text;
  EXPECT_NE(r.text.find("--lr-schedule"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("step"), std::string::npos) << r.text;
}

TEST_F(TrainTool, HelpSaysWhatModelDoes) {
  RunOutput r = train({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("--model"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("Conv2d(1->32, 3x3, padding 1)"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("--optimizer momentum, --lr 0.05, --batch-size 64, --lr-schedule cosine"), std::string::npos)
      << r.text;
  EXPECT_NE(r.text.find("--lr-schedule"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("lr * (1 + cos(pi e / epochs)) / 2"), std::string::npos) << r.text;
}

// ---- --model cnn ----

// The CNN on 28x28 synthetic images: 512 to train on and 128 to test, under a second an epoch on
// one thread.
class TrainCnn : public TrainTool {
 protected:
  void SetUp() override {
    TrainTool::SetUp();
    images_ = dir_ / "images";
    write_dataset(images_, 512, 128, 28);
  }
  // The images, the CNN with its own defaults, output in `out`.
  std::vector<std::string> cnn_args(const std::string& out, std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"--data", images_.string(), "--model", "cnn", "--seed", "7", "--no-plot",
                               "--threads", "1", "--out", (dir_ / out).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  fs::path images_;
};

TEST_F(TrainCnn, TwoEpochsWriteCheckpointCsvAndPlotWithTheCnnDefaults) {
  std::vector<std::string> a = cnn_args("run", {"--epochs", "2"});
  a.erase(std::find(a.begin(), a.end(), "--no-plot"));
  RunOutput r = train(a);
  ASSERT_EQ(r.exit_code, 0) << r.text;
  // Its own defaults, where the MLP's settings are shown: momentum, lr 0.05 along a cosine, batch 64.
  const std::string header =
      "model: conv32-pool-conv64-pool-128-10 (421642 parameters), momentum lr 0.05 cosine, batch 64";
  EXPECT_NE(r.text.find(header + ", seed 7"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("epoch 2/2: train loss"), std::string::npos) << r.text;
  // A cosine over 2 epochs: 0.05, then 0.05 * (1 + cos(pi / 2)) / 2.
  EXPECT_NE(r.text.find(", lr 0.05, "), std::string::npos) << r.text;
  EXPECT_NE(r.text.find(", lr 0.025, "), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("final test accuracy: "), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("(conv32-pool-conv64-pool-128-10 CNN, momentum lr 0.05 cosine, batch 64, seed 7)"),
            std::string::npos)
      << r.text;

  const fs::path out = dir_ / "run";
  std::vector<EpochMetrics> rows = metrics_from_csv(read_file(out / "metrics.csv"));
  ASSERT_EQ(rows.size(), 2u);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].epoch, static_cast<int64_t>(i + 1));
    EXPECT_GT(rows[i].train_loss, 0);
    EXPECT_GT(rows[i].seconds, 0);
  }
  // 8 steps an epoch on these images: over seeds 1 to 40 the train loss fell from epoch 1 to 2 by
  // 0.5 or more and the test accuracy after epoch 2 was 0.79 or more (chance: 0.1), where the
  // accuracy after epoch 1 ranged from 0.6 to 1; the bounds leave room for other CPUs' rounding.
  EXPECT_LT(rows[1].train_loss, rows[0].train_loss);
  EXPECT_GT(rows[1].test_acc, 0.5);

  // The checkpoint holds the CNN's layers, PyTorch's layouts but the Linear's [in, out], at the
  // indices of Sequential(Unflatten, Conv2d, ReLU, MaxPool2d, Conv2d, ReLU, MaxPool2d, Flatten,
  // Linear, ReLU, Linear), and its settings.
  LoadedRun run = load_run((out / "checkpoint.safetensors").string());
  EXPECT_EQ(run.state.model, "cnn");
  EXPECT_TRUE(run.state.hidden.empty());
  EXPECT_EQ(run.state.optimizer, "momentum");
  EXPECT_EQ(run.state.lr, 0.05);
  EXPECT_EQ(run.state.lr_schedule, "cosine");
  EXPECT_EQ(run.state.total_epochs, 2);
  EXPECT_EQ(run.state.batch_size, 64);
  EXPECT_EQ(run.state.inputs, 784);
  EXPECT_EQ(run.state.epochs_done, 2);
  const std::vector<std::pair<std::string, tg::Shape>> expected{
      {"1.weight", {32, 1, 3, 3}}, {"1.bias", {32}},  {"4.weight", {64, 32, 3, 3}}, {"4.bias", {64}},
      {"8.weight", {3136, 128}},   {"8.bias", {128}}, {"10.weight", {128, 10}},     {"10.bias", {10}}};
  ASSERT_EQ(run.tensors.model.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(run.tensors.model[i].first, expected[i].first);
    EXPECT_EQ(run.tensors.model[i].second.shape(), expected[i].second) << expected[i].first;
  }
  EXPECT_FALSE(run.tensors.optimizer.empty()) << "momentum buffers";

  if (has_gnuplot()) {
    const std::string png = read_file(out / "curves.png");
    ASSERT_GE(png.size(), 8u);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
    EXPECT_NE(read_file(out / "curves.gp").find("CNN, momentum lr 0.05 cosine, batch 64"), std::string::npos);
  }
}

TEST_F(TrainCnn, FlagsStillOverrideItsDefaults) {
  RunOutput r = train(cnn_args("run", {"--epochs", "1", "--optimizer", "adam", "--batch-size", "128"}));
  ASSERT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("adam lr 0.001 cosine, batch 128, seed 7"), std::string::npos) << r.text;
  LoadedRun run = load_run((dir_ / "run" / "checkpoint.safetensors").string());
  EXPECT_EQ(run.state.optimizer, "adam");
  EXPECT_EQ(run.state.lr, 0.001);
  EXPECT_EQ(run.state.batch_size, 128);
}

TEST_F(TrainCnn, ConstantLrScheduleOverridesTheCosineDefault) {
  RunOutput r = train(cnn_args("run", {"--epochs", "2", "--lr-schedule", "constant"}));
  ASSERT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("momentum lr 0.05, batch 64, seed 7"), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find("cosine"), std::string::npos) << r.text;
  EXPECT_EQ(r.text.find(", lr 0.0"), std::string::npos) << "a constant lr is not repeated per epoch\n" << r.text;
  LoadedRun run = load_run((dir_ / "run" / "checkpoint.safetensors").string());
  EXPECT_EQ(run.state.lr_schedule, "constant");
  ASSERT_FALSE(run.tensors.optimizer.empty());
  EXPECT_EQ(run.tensors.optimizer[0].first, "lr");
  EXPECT_EQ(run.tensors.optimizer[0].second.item(), 0.05) << "untouched by any schedule";
}

// CNN checkpoints from before --lr-schedule trained at a constant lr: resumed, they keep it rather
// than switch to the cosine the CNN defaults to now.
TEST_F(TrainCnn, ACheckpointWithoutAScheduleEntryKeepsAConstantLr) {
  ASSERT_EQ(train(cnn_args("out", {"--epochs", "1", "--lr-schedule", "constant"})).exit_code, 0);
  const fs::path ckpt = dir_ / "out" / "checkpoint.safetensors";
  tg::io::SafetensorsFile old = tg::io::load_safetensors_with_metadata(ckpt.string());
  ASSERT_EQ(old.metadata.erase("lr_schedule"), 1u);
  ASSERT_EQ(old.metadata.erase("total_epochs"), 1u);
  tg::io::save_safetensors(ckpt.string(), old.tensors, old.metadata);
  EXPECT_EQ(load_run(ckpt.string()).state.lr_schedule, "constant");
  EXPECT_EQ(load_run(ckpt.string()).state.total_epochs, 0);
  RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--no-plot", "--threads", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.text;
  EXPECT_NE(r.text.find("CNN, momentum lr 0.05, batch 64"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("epoch 2/2: train loss"), std::string::npos) << r.text;
  EXPECT_EQ(load_run(ckpt.string()).state.lr_schedule, "constant");
}

TEST_F(TrainCnn, ResumingAfterEpochOneGivesBitIdenticalWeights) {
  ASSERT_EQ(train(cnn_args("whole", {"--epochs", "2"})).exit_code, 0);
  ASSERT_EQ(train(cnn_args("split", {"--epochs", "1"})).exit_code, 0);
  // Nothing but --epochs repeated: the model kind comes from the checkpoint too.
  RunOutput second = train({"--out", (dir_ / "split").string(), "--resume", "--epochs", "2", "--no-plot",
                            "--threads", "1"});
  ASSERT_EQ(second.exit_code, 0) << second.text;
  EXPECT_NE(second.text.find("resuming from"), std::string::npos) << second.text;
  EXPECT_NE(second.text.find("CNN, momentum lr 0.05 cosine, batch 64"), std::string::npos) << second.text;
  EXPECT_NE(second.text.find(", lr 0.025, "), std::string::npos) << "epoch 2 of a cosine over 2\n" << second.text;
  EXPECT_EQ(second.text.find("epoch 1/2"), std::string::npos) << "epoch 1 must not run again\n" << second.text;

  LoadedRun a = load_run((dir_ / "whole" / "checkpoint.safetensors").string());
  LoadedRun b = load_run((dir_ / "split" / "checkpoint.safetensors").string());
  EXPECT_TRUE(bit_identical(a.tensors.model, b.tensors.model));
  EXPECT_TRUE(bit_identical(a.tensors.optimizer, b.tensors.optimizer));
  EXPECT_EQ(b.state.epochs_done, 2);
  EXPECT_EQ(b.state.model, "cnn");
  auto ra = metrics_from_csv(read_file(dir_ / "whole" / "metrics.csv"));
  auto rb = metrics_from_csv(read_file(dir_ / "split" / "metrics.csv"));
  ASSERT_EQ(ra.size(), 2u);
  ASSERT_EQ(rb.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(ra[i].train_loss, rb[i].train_loss);
    EXPECT_EQ(ra[i].test_loss, rb[i].test_loss);
    EXPECT_EQ(ra[i].test_acc, rb[i].test_acc);
  }
}

TEST_F(TrainCnn, ResumeWithAnotherModelOrHiddenIsRefused) {
  ASSERT_EQ(train(cnn_args("out", {"--epochs", "1"})).exit_code, 0);
  RunOutput r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--model", "mlp"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--model mlp differs from the checkpoint's cnn"), std::string::npos) << r.text;
  // --hidden alone names no model, but the checkpoint's is the CNN.
  r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--hidden", "16"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--hidden applies to --model mlp, but the checkpoint"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("holds a cnn"), std::string::npos) << r.text;
  r = train({"--out", (dir_ / "out").string(), "--resume", "--epochs", "2", "--lr-schedule", "constant"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--lr-schedule constant differs from the checkpoint's cosine"), std::string::npos) << r.text;
}

TEST_F(TrainCnn, ImagesOtherThan28x28AreAClearError) {
  RunOutput r = train({"--data", data_.string(), "--model", "cnn", "--out", (dir_ / "out").string(), "--no-plot"});
  EXPECT_EQ(r.exit_code, 1) << r.text;
  EXPECT_NE(r.text.find("--model cnn takes 28x28 images (784 features), but the images in '" + data_.string() +
                        "' have 64 features"),
            std::string::npos)
      << r.text;
}

// ---- --model lstm and --model gru ----

// The recurrent nets on 28x28 synthetic images read row by row: 256 to train on, 64 to test.
class TrainRecurrent : public TrainTool {
 protected:
  void SetUp() override {
    TrainTool::SetUp();
    images_ = dir_ / "images";
    write_dataset(images_, 256, 64, 28);
  }
  std::vector<std::string> args(const std::string& model, const std::string& out, std::vector<std::string> extra = {}) const {
    std::vector<std::string> a{"--data", images_.string(), "--model", model, "--seed", "3", "--no-plot",
                               "--threads", "1", "--out", (dir_ / out).string()};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }
  fs::path images_;
};

TEST_F(TrainRecurrent, LstmAndGruTrainWithTheirDefaultsAndCheckpointPyTorchsNames) {
  for (const std::string model : {"lstm", "gru"}) {
    SCOPED_TRACE(model);
    RunOutput r = train(args(model, model, {"--epochs", "2"}));
    ASSERT_EQ(r.exit_code, 0) << r.text;
    const std::string gates = model == "lstm" ? "512" : "384";
    EXPECT_NE(r.text.find("model: rows28-" + model + "128-10"), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("adam lr 0.001, batch 64, seed 3"), std::string::npos) << r.text;
    std::vector<EpochMetrics> rows = metrics_from_csv(read_file(dir_ / model / "metrics.csv"));
    ASSERT_EQ(rows.size(), 2u);
    EXPECT_LT(rows[1].train_loss, rows[0].train_loss);
    LoadedRun run = load_run((dir_ / model / "checkpoint.safetensors").string());
    EXPECT_EQ(run.state.model, model);
    EXPECT_TRUE(run.state.hidden.empty());
    // Sequential(Unflatten, LSTM, Select, Linear): the recurrent layer's parameters under PyTorch's names.
    const std::vector<std::pair<std::string, tg::Shape>> expected{
        {"1.weight_ih_l0", {std::stoll(gates), 28}}, {"1.weight_hh_l0", {std::stoll(gates), 128}},
        {"1.bias_ih_l0", {std::stoll(gates)}},       {"1.bias_hh_l0", {std::stoll(gates)}},
        {"3.weight", {128, 10}},                     {"3.bias", {10}}};
    ASSERT_EQ(run.tensors.model.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(run.tensors.model[i].first, expected[i].first);
      EXPECT_EQ(run.tensors.model[i].second.shape(), expected[i].second) << expected[i].first;
    }
  }
}

TEST_F(TrainRecurrent, ResumingAnLstmAfterEpochOneGivesBitIdenticalWeights) {
  ASSERT_EQ(train(args("lstm", "whole", {"--epochs", "2"})).exit_code, 0);
  ASSERT_EQ(train(args("lstm", "split", {"--epochs", "1"})).exit_code, 0);
  RunOutput second = train({"--out", (dir_ / "split").string(), "--resume", "--epochs", "2", "--no-plot", "--threads", "1"});
  ASSERT_EQ(second.exit_code, 0) << second.text;
  EXPECT_NE(second.text.find("LSTM, adam lr 0.001, batch 64"), std::string::npos) << second.text;
  LoadedRun a = load_run((dir_ / "whole" / "checkpoint.safetensors").string());
  LoadedRun b = load_run((dir_ / "split" / "checkpoint.safetensors").string());
  EXPECT_TRUE(bit_identical(a.tensors.model, b.tensors.model));
  EXPECT_TRUE(bit_identical(a.tensors.optimizer, b.tensors.optimizer));
}

// The compiled step (the default) and the eager one train the same LSTM, bit for bit.
TEST_F(TrainRecurrent, CompiledAndEagerLstmTrainIdenticalWeights) {
  ASSERT_EQ(train(args("lstm", "compiled", {"--epochs", "1"})).exit_code, 0);
  ASSERT_EQ(train(args("lstm", "eager", {"--epochs", "1", "--no-compile"})).exit_code, 0);
  LoadedRun a = load_run((dir_ / "compiled" / "checkpoint.safetensors").string());
  LoadedRun b = load_run((dir_ / "eager" / "checkpoint.safetensors").string());
  EXPECT_TRUE(bit_identical(a.tensors.model, b.tensors.model));
}
