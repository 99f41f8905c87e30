// Malformed or missing data files: the message names the file, the byte offset and the problem.
#include <tapegrad/tapegrad.h>

#include <fstream>
#include <functional>
#include <iostream>

namespace tg = tapegrad;

void show(const std::function<void()>& f) {
  try {
    f();
  } catch (const tg::Error& e) {
    std::cout << e.what() << "\n";
  }
}

int main() {
  show([] { tg::data::load_mnist("no-such-dir"); });
  show([] {
    const uint8_t header[] = {0, 0, 8, 3, 0, 0, 0, 2};  // claims 3 dimensions, then ends
    tg::data::parse_idx(header, sizeof header, "images.idx");
  });
  show([] {
    std::ofstream("notes.safetensors") << "not a safetensors file";
    tg::io::load_safetensors("notes.safetensors");
  });
  show([] {
    tg::io::save_safetensors("w.safetensors", {{"w", tg::ones({2, 2})}});
    std::ifstream in("w.safetensors", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream("cut.safetensors", std::ios::binary) << bytes.substr(0, bytes.size() - 4);  // truncated
    tg::io::load_safetensors("cut.safetensors");
  });
  show([] {
    tg::nn::Linear layer(3, 2);
    layer.load_state_dict({{"weight", tg::zeros({2, 3})}, {"bias", tg::zeros({2})}});  // PyTorch layout
  });
}
