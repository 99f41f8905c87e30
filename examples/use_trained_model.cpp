// Using a model that tapegrad-train trained: load its checkpoint, rebuild the network, and classify
// test images, printing each prediction with its class name and drawing them as a PNG grid.
//
//   use_trained_model [CHECKPOINT [DATA_DIR [PNG]]]
//
// defaults: out/fashion-mnist/checkpoint.safetensors (what `bash tools/train.sh` writes), Debian's
// Fashion-MNIST directory, and predictions.png beside the checkpoint. Build it in your own project
// with find_package(ZLIB) and ZLIB::ZLIB besides tapegrad::tapegrad (zlib deflates the PNG).
// docs/using-a-trained-model.md explains each step.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

namespace {

// Fashion-MNIST's classes, in label order.
const char* const kClassNames[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// A setting tapegrad-train records in the checkpoint's metadata.
std::string setting(const tg::io::Checkpoint& ck, const std::string& path, const std::string& key) {
  const auto it = ck.metadata.find(key);
  if (it == ck.metadata.end())
    throw std::runtime_error(path + ": the checkpoint's metadata has no '" + key +
                             "' entry (was it written by tapegrad-train?)");
  return it->second;
}

// "50,20" -> {50, 20}; "" -> {}.
std::vector<int64_t> sizes_of(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

// tapegrad-train's MLP: Linear, ReLU, ..., Linear. The checkpoint's metadata gives the sizes;
// load_state_dict then checks every weight's name and shape against this model.
tg::nn::Sequential build_mlp(int64_t inputs, const std::vector<int64_t>& hidden, int64_t classes) {
  tg::nn::Sequential net;
  int64_t width = inputs;
  for (int64_t h : hidden) {
    net.push_back(tg::nn::Linear(width, h));
    net.push_back(tg::nn::ReLU());
    width = h;
  }
  net.push_back(tg::nn::Linear(width, classes));
  return net;
}

// tapegrad-train's --model cnn, layer for layer (tools/train/cnn.h): the flat 784-pixel rows
// unflattened to 1 x 28 x 28 images, two 3x3 convolutions each followed by 2x2 max pooling, then
// two Linear layers. Its parameters are numbered from 1 ("1.weight"): module 0 is the Unflatten.
tg::nn::Sequential build_cnn(int64_t inputs, int64_t classes) {
  namespace nn = tg::nn;
  if (inputs != 28 * 28)
    throw std::runtime_error("the cnn takes 28x28 images (784 inputs), but the checkpoint says " +
                             std::to_string(inputs) + " inputs");
  return nn::Sequential{nn::Unflatten(1, {1, 28, 28}),
                        nn::Conv2d(1, 32, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2),
                        nn::Conv2d(32, 64, 3, {.padding = 1}), nn::ReLU(), nn::MaxPool2d(2),
                        nn::Flatten(), nn::Linear(64 * 7 * 7, 128), nn::ReLU(), nn::Linear(128, classes)};
}

// tapegrad-train's --model lstm and --model gru (tools/train/rnn.cpp): each image read as a
// sequence of its 28 rows of 28 pixels, one recurrent layer of 128 (batch first), its last step,
// and a Linear head. PyTorch names the recurrent layer's parameters "1.weight_ih_l0" and so on.
tg::nn::Sequential build_rnn(const std::string& kind, int64_t inputs, int64_t classes) {
  namespace nn = tg::nn;
  if (inputs != 28 * 28)
    throw std::runtime_error("the " + kind + " reads 28 rows of 28 pixels (784 inputs), but the checkpoint says " +
                             std::to_string(inputs) + " inputs");
  nn::Sequential net{nn::Unflatten(1, {28, 28})};
  if (kind == "lstm") net.push_back(nn::LSTM(28, 128, {.batch_first = true}));
  else net.push_back(nn::GRU(28, 128, {.batch_first = true}));
  net.push_back(nn::Select(1, -1));
  net.push_back(nn::Linear(128, classes));
  return net;
}

// The network the checkpoint was trained as: its metadata's "model" names it (checkpoints written
// before tapegrad-train had --model have no such entry, and hold an MLP).
tg::nn::Sequential build_model(const tg::io::Checkpoint& ck, const std::string& path) {
  const auto it = ck.metadata.find("model");
  const std::string kind = it == ck.metadata.end() ? "mlp" : it->second;
  const int64_t inputs = std::stoll(setting(ck, path, "inputs")), classes = std::stoll(setting(ck, path, "classes"));
  if (kind == "mlp") return build_mlp(inputs, sizes_of(setting(ck, path, "hidden")), classes);
  if (kind == "cnn") return build_cnn(inputs, classes);
  if (kind == "lstm" || kind == "gru") return build_rnn(kind, inputs, classes);
  throw std::runtime_error(path + ": the checkpoint's metadata says model '" + kind +
                           "', but this program builds only tapegrad-train's mlp, cnn, lstm and gru");
}

// One PNG chunk: length, type, data, and the CRC of type and data (zlib computes the CRC).
void chunk(std::string& png, const char* type, const std::string& data) {
  for (int shift = 24; shift >= 0; shift -= 8) png += static_cast<char>((data.size() >> shift) & 0xff);
  const std::string body = std::string(type, 4) + data;
  png += body;
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()));
  for (int shift = 24; shift >= 0; shift -= 8) png += static_cast<char>((crc >> shift) & 0xff);
}

// An 8-bit RGB image as PNG bytes: zlib deflates the rows, each led by filter byte 0 (none).
std::string png_bytes(int width, int height, const std::vector<uint8_t>& rgb) {
  std::string raw;
  for (int y = 0; y < height; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(&rgb[static_cast<size_t>(y) * width * 3]), static_cast<size_t>(width) * 3);
  }
  uLongf size = compressBound(raw.size());
  std::string deflated(size, '\0');
  if (compress2(reinterpret_cast<Bytef*>(deflated.data()), &size, reinterpret_cast<const Bytef*>(raw.data()),
                raw.size(), 9) != Z_OK)
    throw std::runtime_error("zlib could not compress the image");
  deflated.resize(size);
  std::string header;
  for (int v : {width, height})
    for (int shift = 24; shift >= 0; shift -= 8) header += static_cast<char>((v >> shift) & 0xff);
  header += std::string("\x08\x02\x00\x00\x00", 5);  // 8 bits per channel, RGB, no interlace
  std::string png = "\x89PNG\r\n\x1a\n";
  chunk(png, "IHDR", header);
  chunk(png, "IDAT", deflated);
  chunk(png, "IEND", "");
  return png;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string checkpoint = argc > 1 ? argv[1] : "out/fashion-mnist/checkpoint.safetensors";
  const std::string data_dir = argc > 2 ? argv[2] : tg::data::kFashionMnistDir;
  const std::string png_path =
      argc > 3 ? argv[3] : (std::filesystem::path(checkpoint).parent_path() / "predictions.png").string();

  // 1. The checkpoint: the model's tensors (named "model.0.weight" in the file, "0.weight" here:
  //    module 0 of the Sequential, its weight), the optimizer's, and the run's settings.
  const tg::io::Checkpoint ck = tg::io::load_checkpoint(checkpoint);
  std::printf("%s: trained for %s epoch(s)\n", checkpoint.c_str(), setting(ck, checkpoint, "epoch").c_str());
  for (const auto& [name, t] : ck.model) std::printf("  model.%-9s %s\n", name.c_str(), t.shape().str().c_str());

  // 2. The same network (the metadata's "model" says which), then its weights. load_state_dict
  //    checks names and shapes first and changes nothing on a mismatch; eval() switches off
  //    training-only behaviour such as dropout.
  tg::nn::Sequential model = build_model(ck, checkpoint);
  model.load_state_dict(ck.model);
  model.eval();
  std::printf("%s\n", model.str().c_str());

  // 3. Test images, classified under NoGradGuard: nothing is recorded, since no gradient is wanted.
  const tg::data::Dataset test = tg::data::load_mnist(data_dir, tg::data::Split::test);
  tg::NoGradGuard no_grad;
  const tg::Tensor probs = tg::softmax(model(test.images), 1);
  const int64_t classes = probs.size(1);
  std::vector<int64_t> predicted(static_cast<size_t>(test.size()));
  int64_t right = 0;
  for (int64_t i = 0; i < test.size(); ++i) {
    const float* p = probs.data<float>() + i * classes;
    predicted[static_cast<size_t>(i)] = std::max_element(p, p + classes) - p;
    right += predicted[static_cast<size_t>(i)] == test.labels[static_cast<size_t>(i)];
  }
  const auto name = [](int64_t c) { return c >= 0 && c < 10 ? kClassNames[c] : "?"; };
  const int shown = static_cast<int>(std::min<int64_t>(16, test.size()));
  std::printf("the first %d test images:\n", shown);
  for (int i = 0; i < shown; ++i) {
    const int64_t c = predicted[static_cast<size_t>(i)], truth = test.labels[static_cast<size_t>(i)];
    std::printf("  %2d  %-11s %3.0f%%   %s\n", i, name(c), 100.0 * probs.at({i, c}),
                c == truth ? "right" : ("wrong: it is " + std::string(name(truth))).c_str());
  }
  std::printf("test accuracy: %lld of %lld (%.2f%%)\n", static_cast<long long>(right),
              static_cast<long long>(test.size()), 100.0 * static_cast<double>(right) / static_cast<double>(test.size()));

  // 4. The same images as a 4-wide grid, each enlarged 3x inside a green (right) or red (wrong) frame.
  const int rows = static_cast<int>(test.rows), cols = static_cast<int>(test.cols), scale = 3, frame = 3;
  const int tile_w = cols * scale + 2 * frame, tile_h = rows * scale + 2 * frame;
  const int across = std::min(shown, 4), down = (shown + 3) / 4;
  const int width = across * tile_w, height = down * tile_h;
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3, 255);
  for (int i = 0; i < shown; ++i) {
    const bool ok = predicted[static_cast<size_t>(i)] == test.labels[static_cast<size_t>(i)];
    const uint8_t edge[3] = {static_cast<uint8_t>(ok ? 40 : 220), static_cast<uint8_t>(ok ? 170 : 40), 40};
    const float* pixels = test.images.data<float>() + static_cast<int64_t>(i) * rows * cols;
    for (int y = 0; y < tile_h; ++y)
      for (int x = 0; x < tile_w; ++x) {
        uint8_t* out = &rgb[(static_cast<size_t>((i / 4) * tile_h + y) * width + (i % 4) * tile_w + x) * 3];
        const int py = y - frame, px = x - frame;
        if (py < 0 || px < 0 || py >= rows * scale || px >= cols * scale) {
          std::copy(edge, edge + 3, out);
        } else {
          const auto v = static_cast<uint8_t>(255 - 255 * pixels[(py / scale) * cols + px / scale]);  // ink dark
          out[0] = out[1] = out[2] = v;
        }
      }
  }
  tg::io::write_file_atomic(png_path, png_bytes(width, height, rgb));
  std::printf("wrote %s (%dx%d)\n", png_path.c_str(), width, height);
} catch (const std::exception& e) {
  std::fprintf(stderr, "use_trained_model: %s\n", e.what());
  return 1;
}
