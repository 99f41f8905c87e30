// A small CNN saved in the layout of PyTorch's state_dict() and loaded back. The file's header
// lists what torch.nn.Sequential(...).load_state_dict() will receive: the same names and shapes.
#include <tapegrad/tapegrad.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;

// torch.nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
//                     nn.Flatten(), nn.Linear(16, classes)), for 1x4x4 images
nn::Sequential small_cnn(int64_t classes) {
  return nn::Sequential{nn::Conv2d(1, 4, 3, {.padding = 1}), nn::BatchNorm2d(4), nn::ReLU(), nn::MaxPool2d(2),
                        nn::Flatten(), nn::Linear(16, classes)};
}

int main() {
  nn::manual_seed(0);
  nn::Sequential model = small_cnn(3);
  tg::Generator gen(1);
  const tg::Tensor x = tg::randn({8, 1, 4, 4}, gen);
  model(x);  // one forward in training mode: BatchNorm's running statistics move
  tg::io::save_torch_state_dict(model, "cnn.safetensors");

  // The file as PyTorch's side reads it: an 8-byte little-endian header length, then a JSON
  // header naming each tensor's dtype, shape and byte range (num_batches_tracked is I64, as in
  // PyTorch; tg::io::load_safetensors would give it as an int64 tensor).
  std::ifstream in("cnn.safetensors", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  const std::string header = bytes.substr(8, n);
  const std::regex entry(R"re("([^"]+)":\{"dtype":"([A-Z0-9]+)","shape":\[([0-9,]*)\])re");
  std::printf("in cnn.safetensors:\n");
  for (std::sregex_iterator it(header.begin(), header.end(), entry), end; it != end; ++it)
    std::printf("  %-22s %s [%s]\n", (*it)[1].str().c_str(), (*it)[2].str().c_str(),
                std::regex_replace((*it)[3].str(), std::regex(","), ", ").c_str());
  std::printf("tapegrad holds 5.weight as %s (x W), the file as PyTorch does (x W^T)\n",
              model.get<nn::Linear>(5).weight().shape().str().c_str());

  // Back into a freshly initialised model: every parameter and buffer is replaced.
  nn::Sequential copy = small_cnn(3);
  tg::io::load_torch_state_dict(copy, "cnn.safetensors");
  model.eval();
  copy.eval();
  {
    tg::NoGradGuard no_grad;
    std::printf("same eval logits after the round trip: %s\n",
                tg::sum(tg::abs(model(x) - copy(x))).item() == 0 ? "yes" : "no");
  }
  std::printf("num_batches_tracked: %g\n", copy.get<nn::BatchNorm2d>(1).num_batches_tracked().item());

  // A model that does not match the file is refused, and left as it was.
  nn::Sequential wider = small_cnn(5);
  try {
    tg::io::load_torch_state_dict(wider, "cnn.safetensors");
  } catch (const tg::Error& e) {
    std::printf("%s\n", e.what());
  }
}
