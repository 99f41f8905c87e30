#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {
std::vector<double> values(const tg::Tensor& t) { return t.to_vector<double>(); }

void expect_near(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Two channels over a batch of four: channel 0 holds 1, 2, 3, 4 (mean 2.5, biased variance 1.25,
// unbiased 5/3); channel 1 holds 0, 0, 2, 2 (mean 1, biased variance 1, unbiased 4/3).
tg::Tensor batch() { return tg::tensor({{1.0, 0.0}, {2.0, 0.0}, {3.0, 2.0}, {4.0, 2.0}}, tg::Dtype::f64); }

std::vector<std::string> names_of(const tg::NamedTensors& ts) {
  std::vector<std::string> out;
  for (const auto& [name, t] : ts) out.push_back(name);
  return out;
}
}  // namespace

TEST(NnBatchNorm, StartsAsPyTorch) {
  tg::nn::BatchNorm2d bn(3);
  EXPECT_EQ(values(bn.weight()), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(values(bn.bias()), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(bn.weight().requires_grad() && bn.bias().requires_grad());
  EXPECT_EQ(values(bn.running_mean()), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(values(bn.running_var()), (std::vector<double>{1, 1, 1}));
  EXPECT_FALSE(bn.running_mean().requires_grad());
  EXPECT_EQ(bn.num_batches_tracked().dim(), 0u);
  EXPECT_EQ(bn.num_batches_tracked().item(), 0.0);
  EXPECT_EQ(bn.num_batches_tracked().dtype(), tg::Dtype::f32);
  EXPECT_EQ(bn.num_features(), 3);
  tg::nn::BatchNorm1d wide(2, {.dtype = tg::Dtype::f64});
  for (const auto& [name, t] : wide.state_dict()) EXPECT_EQ(t.dtype(), tg::Dtype::f64) << name;
  EXPECT_EQ(bn.str(), "BatchNorm2d(features=3, eps=1e-05, momentum=0.1, affine=true)");
  EXPECT_EQ(tg::nn::BatchNorm1d(4, {.eps = 1e-3, .momentum = 0.25, .affine = false}).str(),
            "BatchNorm1d(features=4, eps=0.001, momentum=0.25, affine=false)");
}

TEST(NnBatchNorm, TrainingNormalisesWithTheBatchAndUpdatesTheRunningStatistics) {
  tg::nn::BatchNorm1d bn(2, {.dtype = tg::Dtype::f64});
  const double eps = 1e-5;
  const tg::Tensor y = bn(batch());
  const double s0 = std::sqrt(1.25 + eps), s1 = std::sqrt(1.0 + eps);
  expect_near(values(y), {-1.5 / s0, -1 / s1, -0.5 / s0, -1 / s1, 0.5 / s0, 1 / s1, 1.5 / s0, 1 / s1});
  // running = 0.9 running + 0.1 batch, with the unbiased variance.
  expect_near(values(bn.running_mean()), {0.25, 0.1});
  expect_near(values(bn.running_var()), {0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.1 * 4.0 / 3.0});
  EXPECT_EQ(bn.num_batches_tracked().item(), 1.0);
  bn(batch());
  expect_near(values(bn.running_mean()), {0.9 * 0.25 + 0.25, 0.9 * 0.1 + 0.1});
  expect_near(values(bn.running_var()), {0.9 * (0.9 + 0.5 / 3.0) + 0.5 / 3.0, 0.9 * (0.9 + 0.4 / 3.0) + 0.4 / 3.0});
  EXPECT_EQ(bn.num_batches_tracked().item(), 2.0);
}

TEST(NnBatchNorm, EvalUsesTheRunningStatisticsAndChangesNothing) {
  tg::nn::BatchNorm1d bn(2, {.dtype = tg::Dtype::f64});
  bn.weight() = tg::tensor({2.0, 1.0}, tg::Dtype::f64).requires_grad(true);
  bn.bias() = tg::tensor({0.0, -1.0}, tg::Dtype::f64).requires_grad(true);
  const tg::Tensor train_y = bn(batch());
  bn.eval();
  const std::vector<double> mean = values(bn.running_mean()), var = values(bn.running_var());
  const tg::Tensor eval_y = bn(batch());
  // y = (x - running_mean) / sqrt(running_var + eps) weight + bias.
  const std::vector<double> x = values(batch());
  std::vector<double> want(8);
  for (size_t i = 0; i < 8; ++i) {
    const size_t c = i % 2;
    want[i] = (x[i] - mean[c]) / std::sqrt(var[c] + 1e-5) * (c == 0 ? 2.0 : 1.0) + (c == 0 ? 0.0 : -1.0);
  }
  expect_near(values(eval_y), want);
  EXPECT_NE(values(eval_y), values(train_y));
  EXPECT_EQ(values(bn.running_mean()), mean);
  EXPECT_EQ(values(bn.running_var()), var);
  EXPECT_EQ(bn.num_batches_tracked().item(), 1.0);
  // A batch of one is fine in eval mode: nothing is estimated from it.
  EXPECT_EQ(bn(tg::tensor({{1.0, 2.0}}, tg::Dtype::f64)).shape(), (tg::Shape{1, 2}));
}

TEST(NnBatchNorm, TwoDimensionalStatisticsSpanBatchHeightAndWidth) {
  tg::nn::BatchNorm2d bn(2, {.dtype = tg::Dtype::f64});
  // Channel 0 holds 1..4 and 9..12 (mean 6.5), channel 1 holds 5..8 and 13..16 (mean 10.5).
  std::vector<double> v(16);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i + 1);
  const tg::Tensor y = bn(tg::from_vector(v, {2, 2, 2, 2}, tg::Dtype::f64));
  EXPECT_EQ(y.shape(), (tg::Shape{2, 2, 2, 2}));
  expect_near(values(bn.running_mean()), {0.65, 1.05});
  // Each channel's eight values deviate by +-5.5, +-4.5, +-3.5, +-2.5: squares 2 x 69, unbiased variance 138/7.
  expect_near(values(bn.running_var()), {0.9 + 0.1 * 138.0 / 7.0, 0.9 + 0.1 * 138.0 / 7.0});
  // BatchNorm1d over [N, C, L] pools the batch and the length in the same way.
  tg::nn::BatchNorm1d seq(2, {.dtype = tg::Dtype::f64});
  seq(tg::from_vector(v, {2, 2, 4}, tg::Dtype::f64));
  expect_near(values(seq.running_mean()), {0.65, 1.05});
}

TEST(NnBatchNorm, EveryInputPassesGradcheck) {
  for (bool training : {true, false}) {
    tg::nn::BatchNorm2d bn(2, {.dtype = tg::Dtype::f64});
    bn.train(training);
    tg::Generator gen(5);
    bn.weight() = tg::randn({2}, gen, tg::Dtype::f64).requires_grad(true);
    bn.bias() = tg::randn({2}, gen, tg::Dtype::f64).requires_grad(true);
    auto fn = [&](const std::vector<tg::Tensor>& in) {
      bn.weight() = in[1];
      bn.bias() = in[2];
      return tg::tanh(bn(in[0]));
    };
    auto report = tg::gradcheck(fn, {tg::randn({3, 2, 2, 2}, gen, tg::Dtype::f64), bn.weight(), bn.bias()});
    EXPECT_TRUE(report.ok) << "training=" << training << "\n" << report;
  }
}

TEST(NnBatchNorm, BuffersAreInTheStateDictButNotInParameters) {
  tg::nn::Sequential net{tg::nn::Linear(3, 2), tg::nn::BatchNorm1d(2), tg::nn::ReLU()};
  EXPECT_EQ(names_of(net.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"}));
  EXPECT_EQ(net.parameters().size(), 4u);
  EXPECT_EQ(net.parameter_count(), 3 * 2 + 2 + 2 + 2);
  EXPECT_EQ(names_of(net.named_buffers()),
            (std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"}));
  EXPECT_EQ(names_of(net.state_dict()),
            (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                      "1.num_batches_tracked"}));
  // Without affine the layer has buffers only.
  tg::nn::BatchNorm2d plain(4, {.affine = false});
  EXPECT_TRUE(plain.parameters().empty());
  EXPECT_EQ(plain.named_buffers().size(), 3u);
  EXPECT_FALSE(plain.weight().defined());
  // An optimizer never sees the buffers: a step moves the parameters, and the running
  // statistics move only by forward().
  net.get<tg::nn::BatchNorm1d>(1).eval();
  tg::optim::SGD sgd(net.parameters(), {.lr = 0.5});
  tg::Generator gen(6);
  tg::sum(net(tg::randn({4, 3}, gen))).backward();
  sgd.step();
  const auto& bn = net.get<tg::nn::BatchNorm1d>(1);
  EXPECT_EQ(values(bn.running_mean()), (std::vector<double>{0, 0}));
  EXPECT_EQ(values(bn.running_var()), (std::vector<double>{1, 1}));
}

TEST(NnBatchNorm, StateDictSnapshotsAndLoadStateDictRestoresBuffers) {
  tg::nn::manual_seed(1);
  tg::nn::Sequential a{tg::nn::Linear(3, 4), tg::nn::BatchNorm1d(4)};
  tg::Generator gen(7);
  for (int i = 0; i < 3; ++i) a(tg::randn({8, 3}, gen));
  const tg::NamedTensors state = a.state_dict();
  EXPECT_EQ(state.back().second.item(), 3.0) << "1.num_batches_tracked";
  a(tg::randn({8, 3}, gen));
  EXPECT_EQ(state.back().second.item(), 3.0) << "the snapshot does not follow later training";

  tg::nn::manual_seed(2);
  tg::nn::Sequential b{tg::nn::Linear(3, 4), tg::nn::BatchNorm1d(4)};
  b.load_state_dict(state);
  const std::map<std::string, tg::Tensor> saved(state.begin(), state.end());
  for (const auto& [name, t] : b.state_dict()) EXPECT_EQ(values(t), values(saved.at(name))) << name;
  EXPECT_EQ(b.get<tg::nn::BatchNorm1d>(1).num_batches_tracked().item(), 3.0);
}

TEST(NnBatchNorm, LoadStateDictChecksBuffersLikeParameters) {
  tg::nn::Sequential net{tg::nn::Linear(3, 2), tg::nn::BatchNorm1d(2)};
  const tg::NamedTensors good = net.state_dict();
  auto load_error = [&](const tg::NamedTensors& s) { return message_of([&] { net.load_state_dict(s); }); };

  tg::NamedTensors missing(good.begin(), good.end() - 2);
  missing.push_back(good.back());
  std::string m = load_error(missing);
  EXPECT_NE(m.find("missing entry '1.running_var' (the buffer has shape [2])"), std::string::npos) << m;

  tg::NamedTensors misshaped = good;
  misshaped[4].second = tg::zeros({3});
  m = load_error(misshaped);
  EXPECT_NE(m.find("entry '1.running_mean' has shape [3] but the buffer has shape [2]"), std::string::npos) << m;

  tg::NamedTensors extra = good;
  extra.emplace_back("1.momentum", tg::tensor(0.5));
  m = load_error(extra);
  EXPECT_NE(m.find("unexpected entry '1.momentum' with shape []"), std::string::npos) << m;
  EXPECT_NE(m.find("no parameter or buffer has that name"), std::string::npos) << m;

  // Checked first, changed nothing: a bad entry after good new values leaves every tensor as it was.
  tg::NamedTensors changed_then_bad = good;
  changed_then_bad[4].second = tg::ones({2});
  changed_then_bad[5].second = tg::zeros({5});
  EXPECT_THROW(net.load_state_dict(changed_then_bad), tg::Error);
  EXPECT_EQ(values(net.get<tg::nn::BatchNorm1d>(1).running_mean()), (std::vector<double>{0, 0}));
}

TEST(NnBatchNorm, CheckpointsCarryTheBuffers) {
  // The training program saves model.state_dict() with save_checkpoint and resumes with
  // load_state_dict: buffers go along with no change there.
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("tapegrad_bn_checkpoint_" + std::to_string(::getpid()) + ".safetensors"))
                               .string();
  tg::nn::Sequential a{tg::nn::Linear(3, 2), tg::nn::BatchNorm1d(2)};
  tg::Generator gen(8);
  a(tg::randn({6, 3}, gen));
  a(tg::randn({6, 3}, gen));
  tg::io::save_checkpoint(path, a.state_dict(), {});
  tg::nn::Sequential b{tg::nn::Linear(3, 2), tg::nn::BatchNorm1d(2)};
  b.load_state_dict(tg::io::load_checkpoint(path).model);
  std::filesystem::remove(path);
  const auto& bn_a = a.get<tg::nn::BatchNorm1d>(1);
  const auto& bn_b = b.get<tg::nn::BatchNorm1d>(1);
  EXPECT_EQ(values(bn_b.running_mean()), values(bn_a.running_mean()));
  EXPECT_EQ(values(bn_b.running_var()), values(bn_a.running_var()));
  EXPECT_EQ(bn_b.num_batches_tracked().item(), 2.0);
}

TEST(NnBatchNorm, BadInputsNameTheLayerAndTheShapes) {
  tg::nn::BatchNorm2d bn2(3);
  std::string m = message_of([&] { bn2(tg::zeros({4, 3})); });
  EXPECT_NE(m.find("BatchNorm2d(features=3"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[N, 3, H, W]"), std::string::npos) << m;
  m = message_of([&] { bn2(tg::zeros({4, 2, 5, 5})); });
  EXPECT_NE(m.find("[4, 2, 5, 5]"), std::string::npos) << m;

  tg::nn::BatchNorm1d bn1(3);
  m = message_of([&] { bn1(tg::zeros({4, 5})); });
  EXPECT_NE(m.find("BatchNorm1d(features=3"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 5]"), std::string::npos) << m;
  EXPECT_NE(m.find("[N, 3] or [N, 3, L]"), std::string::npos) << m;
  EXPECT_NE(message_of([&] { bn1(tg::zeros({4, 3, 2, 2})); }).find("[4, 3, 2, 2]"), std::string::npos);
  EXPECT_THROW(bn1.output_shape({-1, 4}), tg::Error);
  EXPECT_EQ(bn1.output_shape({-1, 3}), (tg::Shape{-1, 3}));

  m = message_of([&] { bn1(tg::zeros({4, 3}, tg::Dtype::f64)); });
  EXPECT_NE(m.find("float64"), std::string::npos) << m;

  // One value per channel cannot give a variance; the failed call counts nothing.
  m = message_of([&] { bn1(tg::zeros({1, 3})); });
  EXPECT_NE(m.find("BatchNorm1d"), std::string::npos) << m;
  EXPECT_NE(m.find("more than one value per channel"), std::string::npos) << m;
  EXPECT_EQ(bn1.num_batches_tracked().item(), 0.0);

  EXPECT_NE(message_of([] { tg::nn::BatchNorm1d(0); }).find("BatchNorm1d: features must be positive"),
            std::string::npos);
  EXPECT_NE(message_of([] { tg::nn::BatchNorm2d(2, {.momentum = 2}); }).find("momentum=2"), std::string::npos);
}
