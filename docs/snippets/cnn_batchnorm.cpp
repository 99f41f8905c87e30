// BatchNorm2d in training mode (the batch's statistics, and the running ones updated) and in eval
// mode (the running ones); its running statistics are buffers, saved but never trained.
#include <tapegrad/tapegrad.h>

#include <cstdio>
#include <vector>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

void print_channels(const char* title, const tg::Tensor& t) {
  std::printf("%-34s", title);
  for (int64_t c = 0; c < t.numel(); ++c) std::printf(" %8.4f", t.to_vector<double>()[static_cast<size_t>(c)]);
  std::printf("\n");
}

// The four pixels of channel c of image n, as a line.
void print_pixels(const char* title, const tg::Tensor& y, int64_t n, int64_t c) {
  std::printf("%-34s", title);
  for (int64_t r = 0; r < 2; ++r)
    for (int64_t k = 0; k < 2; ++k) std::printf(" %8.4f", y.at({n, c, r, k}));
  std::printf("\n");
}

int main() {
  // Two images, two channels of 2x2: channel 0 holds 1..8, channel 1 four 10s then four 20s.
  const std::vector<double> v{1, 2, 3, 4, 10, 10, 10, 10, 5, 6, 7, 8, 20, 20, 20, 20};
  const tg::Tensor x = tg::from_vector(v, {2, 2, 2, 2});
  nn::BatchNorm2d bn(2);  // eps 1e-5, momentum 0.1; weight ones, bias zeros

  // Training mode (the default): each channel is normalised with its mean and biased variance
  // over N, H and W (8 values), and the running statistics move a tenth of the way towards the
  // batch's, the variance unbiased: 4.5 and 5.25 (6 unbiased) for channel 0, 15 and 25 (28.57).
  tg::Tensor y = bn(x);
  print_pixels("train: image 0, channel 0", y, 0, 0);
  print_channels("running_mean = 0.9 * 0 + 0.1 mean", bn.running_mean());
  print_channels("running_var = 0.9 * 1 + 0.1 var", bn.running_var());
  std::printf("num_batches_tracked = %g\n", bn.num_batches_tracked().item());

  // Eval mode: the running statistics, so an image's output no longer depends on its batch.
  bn.eval();
  const tg::Tensor first = tg::slice(x, 0, 0, 1);  // image 0 alone
  print_pixels("eval: image 0 in the batch", bn(x), 0, 0);
  print_pixels("eval: image 0 alone", bn(first), 0, 0);
  bn.train();
  print_pixels("train: image 0 alone", bn(first), 0, 0);  // its own statistics (and a second update)

  // Parameters are what optimizers train; buffers only travel with the state.
  std::printf("named_parameters():");
  for (const auto& [name, t] : bn.named_parameters()) std::printf(" %s %s", name.c_str(), t.shape().str().c_str());
  std::printf("\nnamed_buffers():   ");
  for (const auto& [name, t] : bn.named_buffers()) std::printf(" %s %s", name.c_str(), t.shape().str().c_str());
  tg::optim::SGD opt(bn.parameters(), {.lr = 0.1, .momentum = 0.9});
  std::printf("\nthe optimizer updates %zu tensors\n", opt.params().size());

  // state_dict() and checkpoints carry both, so a reloaded model evaluates the same.
  tg::io::save_checkpoint("bn.safetensors", bn.state_dict(), opt.state_dict());
  std::printf("model entries in the checkpoint:");
  const tg::io::Checkpoint ck = tg::io::load_checkpoint("bn.safetensors");
  for (const auto& [name, t] : ck.model) std::printf(" %s", name.c_str());
  nn::BatchNorm2d restored(2);
  restored.load_state_dict(ck.model);
  restored.eval();
  bn.eval();
  std::printf("\n");
  print_channels("restored running_var", restored.running_var());
  const bool same = tg::sum(tg::abs(restored(x) - bn(x))).item() == 0;
  std::printf("restored(x) == bn(x) in eval mode: %s\n", same ? "yes" : "no");
}
