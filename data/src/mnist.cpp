#include "tapegrad/data/mnist.h"

#include <spdlog/spdlog.h>

#include "log.h"

#include <filesystem>

#include "tapegrad/core/error.h"
#include "tapegrad/data/idx.h"

namespace tapegrad::data {
namespace {

// The file `stem` in `dir`, plain if present, else with a .gz suffix.
std::string find_file(const std::string& dir, const std::string& stem) {
  namespace fs = std::filesystem;
  const fs::path plain = fs::path(dir) / stem;
  std::error_code ec;
  if (fs::is_regular_file(plain, ec)) return plain.string();
  const fs::path gz = fs::path(dir) / (stem + ".gz");
  if (fs::is_regular_file(gz, ec)) return gz.string();
  throw Error("load_mnist: " + dir + ": neither " + stem + " nor " + stem + ".gz exists");
}

}  // namespace

Dataset make_dataset(const IdxArray& images, const IdxArray& labels, const std::string& what) {
  if (images.dims.size() != 3 && images.dims.size() != 2)
    throw Error("load_mnist: " + what + ": images have " + std::to_string(images.dims.size()) +
                " dimensions, expected 3 ([N, rows, cols]) or 2 ([N, features])");
  if (labels.dims.size() != 1)
    throw Error("load_mnist: " + what + ": labels have " + std::to_string(labels.dims.size()) +
                " dimensions, expected 1 ([N])");
  const int64_t n = images.dims[0];
  if (labels.dims[0] != n)
    throw Error("load_mnist: " + what + ": " + std::to_string(n) + " images but " + std::to_string(labels.dims[0]) +
                " labels");
  Dataset ds;
  ds.rows = images.dims.size() == 3 ? images.dims[1] : 0;
  ds.cols = images.dims.size() == 3 ? images.dims[2] : 0;
  const int64_t features = images.dims.size() == 3 ? images.dims[1] * images.dims[2] : images.dims[1];
  ds.images = empty({n, features}, Dtype::f32);
  float* out = ds.images.data<float>();
  for (size_t i = 0; i < images.data.size(); ++i) out[i] = static_cast<float>(images.data[i]) * (1.0f / 255.0f);
  ds.labels.assign(labels.data.begin(), labels.data.end());
  return ds;
}

Dataset load_mnist(const std::string& dir, Split split) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const IdxArray images = read_idx(find_file(dir, prefix + "-images-idx3-ubyte"));
  const IdxArray labels = read_idx(find_file(dir, prefix + "-labels-idx1-ubyte"));
  Dataset d = make_dataset(images, labels, dir + " (" + prefix + ")");
  logger()->info("load_mnist: {} {} images of {}x{} from {}", d.size(), prefix, d.rows, d.cols, dir);
  return d;
}

}  // namespace tapegrad::data
