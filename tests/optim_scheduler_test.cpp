// Learning-rate schedulers: their lr sequences against the closed forms worked by hand.
#include <gtest/gtest.h>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

TEST(OptimScheduler, StepLRDecaysEveryStepSizeEpochs) {
  // base 1, step_size 2, gamma 0.1: epochs 0..5 give 1, 1, 0.1, 0.1, 0.01, 0.01.
  auto opt = tg::optim::SGD({tg::tensor({0.0}).requires_grad(true)}, {.lr = 1.0});
  tg::optim::StepLR sched(opt, 2, 0.1);
  EXPECT_EQ(sched.last_lr(), 1.0);
  const double expected[] = {1.0, 0.1, 0.1, 0.01, 0.01};
  for (double e : expected) {
    sched.step();
    EXPECT_NEAR(sched.last_lr(), e, 1e-17);
    EXPECT_EQ(opt.lr(), sched.last_lr());
  }
  EXPECT_EQ(sched.last_epoch(), 5);
}

TEST(OptimScheduler, ExponentialLRMultipliesEveryEpoch) {
  // base 0.8, gamma 0.5: 0.8, 0.4, 0.2, 0.1 (exact in binary floating point).
  auto x = tg::tensor({0.0}).requires_grad(true);
  tg::optim::Adam opt({x}, {.lr = 0.8});
  tg::optim::ExponentialLR sched(opt, 0.5);
  EXPECT_EQ(opt.lr(), 0.8);
  const double expected[] = {0.4, 0.2, 0.1};
  for (double e : expected) {
    sched.step();
    EXPECT_DOUBLE_EQ(opt.lr(), e);
  }
}

TEST(OptimScheduler, CosineAnnealingFollowsTheHalfCosine) {
  // base 1, eta_min 0.1, T_max 4: lr = 0.1 + 0.9 (1 + cos(pi e / 4)) / 2
  //   e=0: 1;  e=1: 0.1 + 0.45 (1 + 0.70710678) = 0.868198051533946;  e=2: 0.55;
  //   e=3: 0.1 + 0.45 (1 - 0.70710678) = 0.231801948466054;  e=4: 0.1;
  //   past T_max the closed form rises again: e=5 as e=3, e=6: 0.55, e=8: 1.
  auto x = tg::tensor({0.0}).requires_grad(true);
  tg::optim::SGD opt({x}, {.lr = 1.0});
  tg::optim::CosineAnnealingLR sched(opt, 4, 0.1);
  EXPECT_EQ(sched.last_lr(), 1.0);
  const double expected[] = {0.868198051533946, 0.55, 0.231801948466054, 0.1,
                             0.231801948466054, 0.55, 0.868198051533946, 1.0};
  for (double e : expected) {
    sched.step();
    EXPECT_NEAR(opt.lr(), e, 1e-15);
  }
}

TEST(OptimScheduler, StateDictResumesTheSchedule) {
  auto x = tg::tensor({0.0}).requires_grad(true);
  tg::optim::SGD a({x}, {.lr = 1.0}), b({x}, {.lr = 1.0});
  tg::optim::StepLR sa(a, 1, 0.5);
  sa.step();
  sa.step();  // lr 0.25
  tg::optim::StepLR sb(b, 1, 0.5);
  sb.load_state_dict(sa.state_dict());
  EXPECT_EQ(b.lr(), 0.25);
  sa.step();
  sb.step();
  EXPECT_EQ(a.lr(), b.lr());
  EXPECT_EQ(sb.last_epoch(), 3);
  EXPECT_THROW(sb.load_state_dict({{"base_lr", tg::tensor(1.0)}}), tg::Error);
  EXPECT_THROW(sb.load_state_dict({{"base_lr", tg::tensor(1.0)}, {"last_epoch", tg::tensor(1.5)}}), tg::Error);
  EXPECT_THROW(sb.load_state_dict({{"base_lr", tg::tensor(1.0)}, {"last_epoch", tg::tensor(1.0)}, {"gamma", tg::tensor(1.0)}}),
               tg::Error);
}

TEST(OptimScheduler, RejectsBadArguments) {
  auto x = tg::tensor({0.0}).requires_grad(true);
  tg::optim::SGD opt({x}, {.lr = 1.0});
  EXPECT_THROW(tg::optim::StepLR(opt, 0), tg::Error);
  EXPECT_THROW(tg::optim::CosineAnnealingLR(opt, 0), tg::Error);
}
