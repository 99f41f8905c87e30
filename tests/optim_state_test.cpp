// Optimizer state dicts: names, bit-exact resumption for every optimizer, and errors on bad state.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <string>

#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {

using Factory = std::function<std::unique_ptr<tg::optim::Optimizer>(std::vector<tg::Tensor>)>;

struct Case {
  std::string name;
  Factory make;
};

std::vector<Case> cases() {
  using namespace tg::optim;
  auto wrap = [](auto f) -> Factory { return f; };
  return {
      {"SGD", wrap([](std::vector<tg::Tensor> p) { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.05}); })},
      {"SGDNesterov", wrap([](std::vector<tg::Tensor> p) {
         return std::make_unique<SGD>(p, SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true, .weight_decay = 1e-3});
       })},
      {"SGDDampened", wrap([](std::vector<tg::Tensor> p) {
         return std::make_unique<SGD>(p, SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.3});
       })},
      {"Adam", wrap([](std::vector<tg::Tensor> p) { return std::make_unique<Adam>(p, AdamOptions{.lr = 0.01}); })},
      {"AdamAmsgrad", wrap([](std::vector<tg::Tensor> p) {
         return std::make_unique<Adam>(p, AdamOptions{.lr = 0.01, .weight_decay = 1e-2, .amsgrad = true});
       })},
      {"AdamW", wrap([](std::vector<tg::Tensor> p) { return std::make_unique<AdamW>(p, AdamWOptions{.lr = 0.01}); })},
      {"Adagrad", wrap([](std::vector<tg::Tensor> p) {
         return std::make_unique<Adagrad>(p, AdagradOptions{.lr = 0.1, .lr_decay = 0.01});
       })},
      {"RMSprop", wrap([](std::vector<tg::Tensor> p) {
         return std::make_unique<RMSprop>(p, RMSpropOptions{.lr = 0.01, .momentum = 0.5, .centered = true});
       })},
  };
}

// A small least-squares problem in float32 (rounding makes any divergence visible bit by bit).
struct Problem {
  tg::Tensor X, target;
  Problem() {
    tg::Generator gen(3);
    X = tg::randn({16, 4}, gen);
    target = tg::randn({16, 2}, gen);
  }
  std::vector<tg::Tensor> fresh_params() const {
    tg::Generator gen(4);
    return {tg::randn({4, 2}, gen).requires_grad(true), tg::zeros({2}).requires_grad(true)};
  }
  void train(tg::optim::Optimizer& opt, int steps) const {
    const auto& p = opt.params();
    for (int i = 0; i < steps; ++i) {
      opt.zero_grad();
      tg::mse_loss(tg::matmul(X, p[0]) + p[1], target).backward();
      opt.step();
    }
  }
};

std::vector<tg::Tensor> clones(const std::vector<tg::Tensor>& ps) {
  std::vector<tg::Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad(true));
  return out;
}

}  // namespace

TEST(OptimState, ResumedRunsContinueBitExactly) {
  Problem problem;
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    auto first = c.make(problem.fresh_params());
    problem.train(*first, 7);
    first->set_lr(first->lr() * 0.5);  // as a scheduler would; the lr travels in the state dict
    const tg::NamedTensors saved = first->state_dict();
    auto resumed = c.make(clones(first->params()));
    resumed->load_state_dict(saved);
    EXPECT_EQ(resumed->lr(), first->lr());
    problem.train(*first, 9);
    problem.train(*resumed, 9);
    for (size_t i = 0; i < first->params().size(); ++i)
      EXPECT_EQ(first->params()[i].to_vector<float>(), resumed->params()[i].to_vector<float>()) << "parameter " << i;
    // The saved dict holds copies: training on did not change it.
    const tg::NamedTensors now = first->state_dict();
    ASSERT_EQ(now.size(), saved.size());
    EXPECT_EQ(saved[1].second.item(), 7.0);
    EXPECT_EQ(now[1].second.item(), 16.0);
  }
}

TEST(OptimState, NamesAreStable) {
  auto w = tg::zeros({2, 2}).requires_grad(true), b = tg::zeros({2}).requires_grad(true);
  tg::optim::Adam adam({w, b}, {.amsgrad = true});
  std::vector<std::string> names;
  for (const auto& [name, t] : adam.state_dict()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"lr", "0.step", "0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq",
                                             "1.step", "1.exp_avg", "1.exp_avg_sq", "1.max_exp_avg_sq"}));
  const auto sd = adam.state_dict();
  EXPECT_EQ(sd[0].second.dtype(), tg::Dtype::f64);
  EXPECT_EQ(sd[2].second.shape(), (tg::Shape{2, 2}));
  EXPECT_EQ(sd[2].second.dtype(), tg::Dtype::f32);

  tg::optim::SGD sgd({w}, {.lr = 0.1, .momentum = 0.9});
  names.clear();
  for (const auto& [name, t] : sgd.state_dict()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"lr", "0.step", "0.momentum_buffer"}));
}

TEST(OptimState, RejectsMissingExtraAndMisshapedEntries) {
  auto w = tg::ones({2, 3}, tg::Dtype::f64).requires_grad(true);
  tg::optim::Adam opt({w}, {.lr = 0.1});
  w.set_grad(tg::ones({2, 3}, tg::Dtype::f64));
  opt.step();
  const tg::NamedTensors good = opt.state_dict();
  auto expect_error = [&](tg::NamedTensors bad, const std::string& fragment) {
    try {
      opt.load_state_dict(bad);
      ADD_FAILURE() << "no error; expected one mentioning " << fragment;
    } catch (const tg::Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  auto without = [&](const std::string& name) {
    tg::NamedTensors s;
    for (const auto& e : good)
      if (e.first != name) s.push_back(e);
    return s;
  };
  auto replaced = [&](const std::string& name, tg::Tensor t) {
    tg::NamedTensors s = good;
    for (auto& e : s)
      if (e.first == name) e.second = t;
    return s;
  };
  expect_error(without("0.exp_avg_sq"), "missing entry \"0.exp_avg_sq\"");
  expect_error(without("lr"), "missing entry \"lr\"");
  auto extra = good;
  extra.emplace_back("1.exp_avg", tg::zeros({2, 3}, tg::Dtype::f64));
  expect_error(extra, "unexpected entry \"1.exp_avg\"");
  auto other = good;
  other.emplace_back("0.momentum_buffer", tg::zeros({2, 3}, tg::Dtype::f64));
  expect_error(other, "unexpected entry \"0.momentum_buffer\"");
  auto twice = good;
  twice.push_back(good[2]);
  expect_error(twice, "appears more than once");
  expect_error(replaced("0.exp_avg", tg::zeros({3, 2}, tg::Dtype::f64)), "is [3, 2] float64 but the parameter is [2, 3] float64");
  expect_error(replaced("0.exp_avg", tg::zeros({2, 3}, tg::Dtype::f32)), "float32");
  expect_error(replaced("0.step", tg::tensor(1.5, tg::Dtype::f64)), "step count");
  expect_error(replaced("0.step", tg::zeros({2}, tg::Dtype::f64)), "must hold one number");
  expect_error(replaced("lr", tg::tensor(-1.0, tg::Dtype::f64)), "expected >= 0");

  // A failed load changes nothing: the optimizer still holds its own state.
  const tg::NamedTensors after = opt.state_dict();
  for (size_t i = 0; i < good.size(); ++i)
    EXPECT_EQ(after[i].second.to_vector<double>(), good[i].second.to_vector<double>()) << good[i].first;
}

TEST(OptimState, LoadingFreshStateRestartsTheOptimizer) {
  // SGD with momentum: after loading the state of a fresh optimizer, the next step is a first
  // step again (the buffer is the gradient, undamped): x = 1, g = 2, lr 0.1 -> 0.8.
  auto x = tg::tensor({1.0}, tg::Dtype::f64).requires_grad(true);
  tg::optim::SGD opt({x}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.5});
  const tg::NamedTensors fresh = opt.state_dict();
  x.set_grad(tg::tensor({5.0}, tg::Dtype::f64));
  opt.step();
  opt.load_state_dict(fresh);
  x.copy_(tg::tensor({1.0}, tg::Dtype::f64));
  x.set_grad(tg::tensor({2.0}, tg::Dtype::f64));
  opt.step();
  EXPECT_NEAR(x.item(), 0.8, 1e-15);
}

// Every hyper-parameter is a finite number, wherever it comes from: a state dict (the optimizer's
// lr, a scheduler's base_lr and epoch), set_lr, or an optimizer's options. An infinite one would
// turn the first step's weights into inf or NaN, far from where it was set.
TEST(OptimState, EveryHyperParameterMustBeFinite) {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<double, std::string>> bad = {{inf, "inf"}, {-inf, "-inf"}, {std::nan(""), "nan"}};
  const Problem problem;
  for (const Case& c : cases()) {
    auto opt = c.make(problem.fresh_params());
    const tg::NamedTensors good = opt->state_dict();
    for (const auto& [value, text] : bad) {
      tg::NamedTensors state = good;
      ASSERT_EQ(state[0].first, "lr");
      state[0].second = tg::tensor(value, tg::Dtype::f64);
      EXPECT_EQ(message_of([&] { opt->load_state_dict(state); }),
                std::string(opt->name()) + ".load_state_dict: entry \"lr\" holds " + text + ", expected >= 0 and finite")
          << c.name;
      EXPECT_EQ(message_of([&] { opt->set_lr(value); }),
                std::string(opt->name()) + ": learning rate must be >= 0 and finite, got " + text)
          << c.name;
      EXPECT_EQ(opt->lr(), good[0].second.item()) << c.name << ": a refused lr was kept";
    }
  }

  const auto w = [] { return std::vector<tg::Tensor>{tg::zeros({2}).requires_grad(true)}; };
  using namespace tg::optim;
  const std::vector<std::pair<std::string, std::function<void()>>> options = {
      {"SGD: learning rate must be >= 0 and finite, got inf", [&] { SGD(w(), {.lr = inf}); }},
      {"SGD: momentum must be >= 0 and finite, got inf", [&] { SGD(w(), {.momentum = inf}); }},
      {"SGD: dampening must be finite, got -inf", [&] { SGD(w(), {.momentum = 0.9, .dampening = -inf}); }},
      {"SGD: weight_decay must be >= 0 and finite, got inf", [&] { SGD(w(), {.weight_decay = inf}); }},
      {"Adam: eps must be >= 0 and finite, got inf", [&] { Adam(w(), {.eps = inf}); }},
      {"Adam: weight_decay must be >= 0 and finite, got inf", [&] { Adam(w(), {.weight_decay = inf}); }},
      {"AdamW: learning rate must be >= 0 and finite, got inf", [&] { AdamW(w(), {.lr = inf}); }},
      {"Adagrad: lr_decay must be >= 0 and finite, got inf", [&] { Adagrad(w(), {.lr_decay = inf}); }},
      {"Adagrad: initial_accumulator_value must be >= 0 and finite, got inf",
       [&] { Adagrad(w(), {.initial_accumulator_value = inf}); }},
      {"RMSprop: alpha must be >= 0 and finite, got inf", [&] { RMSprop(w(), {.alpha = inf}); }},
      {"RMSprop: momentum must be >= 0 and finite, got inf", [&] { RMSprop(w(), {.momentum = inf}); }},
  };
  for (const auto& [want, make] : options) EXPECT_EQ(message_of(make), want);

  SGD sgd(w(), {.lr = 0.1});
  StepLR scheduler(sgd, 2, 0.5);
  EXPECT_EQ(message_of([&] {
              scheduler.load_state_dict({{"base_lr", tg::tensor(inf, tg::Dtype::f64)}, {"last_epoch", tg::tensor(1.0)}});
            }),
            "LRScheduler.load_state_dict: \"base_lr\" holds inf, expected >= 0 and finite");
  EXPECT_NE(message_of([&] {
              scheduler.load_state_dict({{"base_lr", tg::tensor(0.1)}, {"last_epoch", tg::tensor(inf, tg::Dtype::f64)}});
            }).find("expected an integer >= 0"),
            std::string::npos);
  EXPECT_EQ(sgd.lr(), 0.1);
}
