#include "dataset.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace tg = tapegrad;

namespace tapegrad_train {

tg::data::Dataset load_split(const std::string& dir, tg::data::Split split, int64_t limit) {
  namespace fs = std::filesystem;
  const char* what = split == tg::data::Split::train ? "training" : "test";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw std::runtime_error("data directory '" + dir + "' does not exist or is not a directory; pass --data DIR with " +
                             "an MNIST-format directory, or install Fashion-MNIST with: apt-get install dataset-fashion-mnist");
  tg::data::Dataset d;
  try {
    d = tg::data::load_mnist(dir, split);
  } catch (const tg::Error& e) {
    throw std::runtime_error(std::string("cannot load the ") + what + " data: " + e.what());
  }
  if (d.size() == 0) throw std::runtime_error(std::string("the ") + what + " data in '" + dir + "' has no examples");
  if (limit > 0 && limit < d.size()) {
    const int64_t f = d.features();
    const float* p = d.images.data<float>();
    d.images = tg::from_vector(std::vector<float>(p, p + limit * f), {limit, f});
    d.labels.resize(static_cast<size_t>(limit));
  }
  return d;
}

int64_t class_count(const tg::data::Dataset& d) {
  return d.labels.empty() ? 0 : *std::max_element(d.labels.begin(), d.labels.end()) + 1;
}

}  // namespace tapegrad_train
