#pragma once
/// \file mnist.h
/// Datasets held in memory, and loading MNIST-format directories (MNIST, Fashion-MNIST).
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.h"
#include "tapegrad/data/idx.h"

namespace tapegrad::data {

/// A labelled classification dataset held in memory: one row of features per example.
struct Dataset {
  /// Features, shape [N, features], float32 or float64 (MNIST: [N, rows*cols] in [0, 1]).
  Tensor images;
  /// Class of each example; labels.size() == N.
  std::vector<int64_t> labels;
  /// Height of an image (0 if the features are not an image).
  int64_t rows = 0;
  /// Width of an image (0 if the features are not an image).
  int64_t cols = 0;

  /// Number of examples.
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  /// Number of features per example (the second dimension of `images`).
  int64_t features() const { return images.defined() && images.dim() == 2 ? images.size(1) : 0; }
};

/// Which half of an MNIST-format dataset to load.
enum class Split {
  train,  ///< The 60000 training examples (`train-*` files).
  test    ///< The 10000 test examples (`t10k-*` files).
};

/// Where Debian's dataset-fashion-mnist package installs Fashion-MNIST.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// Loads one split of an MNIST-format directory holding `train-images-idx3-ubyte`,
/// `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each
/// plain or with a `.gz` suffix. Images become float32 [N, rows*cols] scaled to [0, 1].
/// Throws tapegrad::Error if a file is missing or malformed, or if image and label counts differ.
Dataset load_mnist(const std::string& dir = kFashionMnistDir, Split split = Split::train);

/// Builds a Dataset from an images IDX array ([N, rows, cols] or [N, features]) and a labels
/// IDX array ([N]); `what` names the pair in error messages. Throws if the counts differ.
Dataset make_dataset(const IdxArray& images, const IdxArray& labels, const std::string& what);

}  // namespace tapegrad::data
