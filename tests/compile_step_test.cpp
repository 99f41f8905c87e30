// tg::compile_step: a training step compiled once, bit for bit the eager loop.
#include <gtest/gtest.h>

#include <memory>
#include <tapegrad/tapegrad.h>

#include "message_of.h"

namespace tg = tapegrad;

namespace {

std::vector<std::vector<double>> values(const std::vector<tg::Tensor>& ts) {
  std::vector<std::vector<double>> out;
  for (const tg::Tensor& t : ts) out.push_back(t.to_vector<double>());
  return out;
}

tg::nn::Sequential net(uint64_t seed) {
  tg::nn::manual_seed(seed);
  return tg::nn::Sequential{tg::nn::Linear(4, 8), tg::nn::Tanh(), tg::nn::Linear(8, 3)};
}

std::unique_ptr<tg::optim::Optimizer> optimizer(int which, const std::vector<tg::Tensor>& params) {
  if (which == 0) return std::make_unique<tg::optim::SGD>(params, tg::optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
  return std::make_unique<tg::optim::Adam>(params, tg::optim::AdamOptions{.lr = 0.01});
}

// Batches of 6, 6 and a last one of 2 (its own compiled step), twice over.
std::vector<std::pair<tg::Tensor, tg::Tensor>> batches(tg::Generator& gen) {
  std::vector<std::pair<tg::Tensor, tg::Tensor>> out;
  for (int epoch = 0; epoch < 2; ++epoch)
    for (int64_t rows : {6, 6, 2}) {
      std::vector<double> labels;
      for (int64_t i = 0; i < rows; ++i) labels.push_back(static_cast<double>((i + epoch) % 3));
      out.emplace_back(tg::randn({rows, 4}, gen), tg::from_vector(labels, {rows}));
    }
  return out;
}

}  // namespace

TEST(CompileStep, SgdWithMomentumAndAdamEndBitwiseWhereTheEagerLoopDoes) {
  for (int which = 0; which < 2; ++which) {
    SCOPED_TRACE(which == 0 ? "SGD with momentum" : "Adam");
    tg::nn::Sequential eager = net(11), compiled = net(11);
    auto eager_opt = optimizer(which, eager.parameters());
    auto compiled_opt = optimizer(which, compiled.parameters());
    tg::Generator gen(3);
    const auto data = batches(gen);
    tg::CompiledStep step = tg::compile_step(
        [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(compiled(in[0]), in[1]); },
        {data[0].first, data[0].second}, *compiled_opt);
    for (const auto& [x, labels] : data) {
      eager_opt->zero_grad();
      tg::Tensor expected = tg::softmax_cross_entropy(eager(x), labels);
      expected.backward();
      eager_opt->step();
      const tg::Tensor loss = step({x, labels});
      EXPECT_EQ(loss.item(), expected.item());
      EXPECT_FALSE(loss.requires_grad());
      ASSERT_EQ(values(compiled.parameters()), values(eager.parameters()));
    }
    EXPECT_EQ(step.programs(), 2u);  // the batches of 6 and the last batch of 2
    EXPECT_EQ(step.compilations(), 2u);
  }
}

TEST(CompileStep, GradientsAreWrittenNotAddedToWhatGradHeld) {
  tg::nn::Sequential a = net(5), b = net(5);
  tg::optim::SGD opt_a(a.parameters(), {.lr = 0.1}), opt_b(b.parameters(), {.lr = 0.1});
  tg::Generator gen(1);
  const tg::Tensor x = tg::randn({6, 4}, gen), labels = tg::tensor({0.0, 1.0, 2.0, 0.0, 1.0, 2.0});
  tg::CompiledStep step = tg::compile_step(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(b(in[0]), in[1]); }, {x, labels}, opt_b);
  for (tg::Tensor p : b.parameters()) p.set_grad(tg::full(p.shape(), 100.0));  // stale: must not count
  step({x, labels});
  opt_a.zero_grad();
  tg::softmax_cross_entropy(a(x), labels).backward();
  opt_a.step();
  EXPECT_EQ(values(b.parameters()), values(a.parameters()));
}

// CompileOptions::grads_in_program: grad() becomes the program's buffer after zero_grad(true), and
// a backward() that finds grad() defined still adds to it, even when grad() is that buffer.
TEST(CompileStep, GradsInProgramAddUpAsEagerAndAreRewrittenByTheNextPass) {
  tg::nn::Sequential eager = net(7), compiled = net(7);
  tg::Generator gen(2);
  const tg::Tensor x1 = tg::randn({6, 4}, gen), x2 = tg::randn({6, 4}, gen);
  const tg::Tensor labels = tg::tensor({0.0, 1.0, 2.0, 0.0, 1.0, 2.0});
  auto loss_of = [](tg::nn::Sequential& m) {
    return [&m](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(m(in[0]), in[1]); };
  };
  tg::Compiled step = tg::compile(loss_of(compiled), {x1, labels}, {.grads_in_program = true});
  tg::optim::SGD eager_opt(eager.parameters(), {.lr = 0.1}), compiled_opt(compiled.parameters(), {.lr = 0.1});
  auto grads = [](tg::nn::Sequential& m) {
    std::vector<tg::Tensor> g;
    for (const tg::Tensor& p : m.parameters()) g.push_back(p.grad());
    return g;
  };

  eager_opt.zero_grad(true);
  loss_of(eager)({x1, labels}).backward();
  const auto g1 = values(grads(eager));
  compiled_opt.zero_grad(true);
  step({x1, labels}).backward();
  const std::vector<tg::Tensor> held = grads(compiled);  // the program's buffers
  ASSERT_EQ(values(held), g1);

  // No zero_grad between: the second pass adds to the first, the program's buffer notwithstanding.
  loss_of(eager)({x2, labels}).backward();
  step({x2, labels}).backward();
  EXPECT_EQ(values(grads(compiled)), values(grads(eager)));
  for (size_t k = 0; k < held.size(); ++k) EXPECT_FALSE(held[k].is_same(grads(compiled)[k]));

  // After zero_grad(true) the pass hands the buffer back: a grad() kept from it is rewritten.
  compiled_opt.zero_grad(true);
  step({x1, labels}).backward();
  const std::vector<tg::Tensor> kept = grads(compiled);
  compiled_opt.zero_grad(true);
  step({x2, labels}).backward();
  eager_opt.zero_grad(true);
  loss_of(eager)({x2, labels}).backward();
  EXPECT_EQ(values(kept), values(grads(eager)));
}

TEST(CompileStep, WithoutGradsInProgramAKeptGradIsNeverRewritten) {
  tg::nn::Sequential m = net(7);
  tg::Generator gen(2);
  const tg::Tensor x1 = tg::randn({6, 4}, gen), x2 = tg::randn({6, 4}, gen);
  const tg::Tensor labels = tg::tensor({0.0, 1.0, 2.0, 0.0, 1.0, 2.0});
  tg::Compiled step = tg::compile(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(m(in[0]), in[1]); }, {x1, labels});
  tg::optim::SGD opt(m.parameters(), {.lr = 0.1});
  opt.zero_grad(true);
  step({x1, labels}).backward();
  const tg::Tensor kept = m.parameters()[0].grad();
  const std::vector<double> before = kept.to_vector<double>();
  opt.zero_grad(true);
  step({x2, labels}).backward();
  EXPECT_EQ(kept.to_vector<double>(), before);
  EXPECT_NE(m.parameters()[0].grad().to_vector<double>(), before);
}

TEST(CompileStep, BeforeUpdateSeesTheGradientsAndRunsBeforeTheUpdate) {
  tg::nn::Sequential m = net(2);
  tg::optim::SGD opt(m.parameters(), {.lr = 0.5});
  tg::Generator gen(4);
  const tg::Tensor x = tg::randn({3, 4}, gen), labels = tg::tensor({0.0, 1.0, 2.0});
  const auto before = values(m.parameters());
  int calls = 0;
  tg::CompiledStep step = tg::compile_step(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(m(in[0]), in[1]); }, {x, labels}, opt,
      {.before_update = [&] {
        ++calls;
        EXPECT_EQ(values(m.parameters()), before);  // not yet updated
        for (tg::Tensor p : m.parameters()) {
          ASSERT_TRUE(p.has_grad());
          p.grad().fill_(0.0);  // a zero gradient: the update leaves the weights alone
        }
      }});
  step({x, labels});
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(values(m.parameters()), before);
}

TEST(CompileStep, MisuseIsAnErrorNamingWhatWasExpected) {
  tg::nn::Sequential m = net(2);
  tg::optim::SGD opt(m.parameters(), {.lr = 0.1});
  tg::Generator gen(4);
  const tg::Tensor x = tg::randn({3, 4}, gen), labels = tg::tensor({0.0, 1.0, 2.0});
  EXPECT_NE(message_of([&] { tg::compile_step(nullptr, {x}, opt); }).find("the loss function is empty"), std::string::npos);
  tg::CompiledStep vector_loss = tg::compile_step([&](const std::vector<tg::Tensor>& in) { return m(in[0]); }, {x}, opt);
  EXPECT_NE(message_of([&] { vector_loss({x}); }).find("must return the loss, one element"), std::string::npos);
  tg::CompiledStep empty;
  EXPECT_NE(message_of([&] { empty({x}); }).find("make it with tg::compile_step"), std::string::npos);
  tg::CompiledStep step = tg::compile_step(
      [&](const std::vector<tg::Tensor>& in) { return tg::softmax_cross_entropy(m(in[0]), in[1]); }, {x, labels}, opt);
  EXPECT_NE(message_of([&] { step({x, tg::Tensor()}); }).find("input 1"), std::string::npos);
}
