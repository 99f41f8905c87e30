// A module of your own: a residual block y = x + gate * outer(relu(inner(x))), with two Linear
// children and a parameter of its own. Inside a Sequential it is printed, trained, saved and loaded like the
// built-in layers, its parameters named by where they sit ("1.gate", "1.inner.weight").
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <memory>
#include <string>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

class Residual : public nn::Module {
 public:
  Residual(int64_t width, int64_t hidden)
      : inner_(std::make_shared<nn::Linear>(width, hidden)),
        outer_(std::make_shared<nn::Linear>(hidden, width)),
        gate_(tg::tensor({0.5}).requires_grad(true)) {}

  // The only method a module must have, besides name(): recorded ops, so backward() just works.
  tg::Tensor forward(const tg::Tensor& x) override { return x + gate_ * (*outer_)(tg::relu((*inner_)(x))); }
  std::string name() const override { return "Residual"; }
  std::string str() const override {
    return "Residual(width=" + std::to_string(outer_->out_features()) + ", hidden=" +
           std::to_string(inner_->out_features()) + ")";
  }
  // What parameters(), state_dict(), load_state_dict(), train() and eval() walk.
  tg::NamedTensors own_parameters() const override { return {{"gate", gate_}}; }
  nn::NamedModules named_children() const override { return {{"inner", inner_}, {"outer", outer_}}; }
  // For the printout: the shape it takes (its output has the same shape, the default).
  tg::Shape input_shape_hint() const override { return inner_->input_shape_hint(); }

 private:
  std::shared_ptr<nn::Linear> inner_, outer_;
  tg::Tensor gate_;
};

int main() {
  nn::manual_seed(0);
  nn::Sequential net{nn::Linear(4, 8), Residual(8, 16), nn::ReLU(), nn::Linear(8, 3)};
  std::printf("%s\n", net.str().c_str());
  for (const auto& [name, t] : net.named_parameters()) std::printf("  %-16s %s\n", name.c_str(), t.shape().str().c_str());

  // A few steps of training reach the block's own parameter too.
  const tg::Tensor x = tg::tensor({{1.0, -0.5, 0.25, 2.0}, {0.0, 1.5, -1.0, 0.5}});
  const std::vector<int64_t> labels{2, 0};
  tg::optim::SGD opt(net.parameters(), {.lr = 0.1});
  for (int step = 0; step < 20; ++step) {
    opt.zero_grad();
    tg::softmax_cross_entropy(net(x), labels).backward();
    opt.step();
  }
  std::printf("gate after training: %.4f\n", net.get<Residual>(1).own_parameters()[0].second.item());

  // Saved and loaded into a network built the same way, with other initial weights.
  tg::io::save_checkpoint("own_module.safetensors", net.state_dict(), tg::NamedTensors{});
  nn::manual_seed(1);
  nn::Sequential copy{nn::Linear(4, 8), Residual(8, 16), nn::ReLU(), nn::Linear(8, 3)};
  copy.load_state_dict(tg::io::load_checkpoint("own_module.safetensors").model);
  tg::NoGradGuard no_grad;
  const bool same = tg::sum(tg::abs(copy(x) - net(x))).item() == 0.0;
  std::printf("same logits after loading: %s\n", same ? "yes" : "no");
}
