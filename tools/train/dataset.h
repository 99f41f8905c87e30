#pragma once
/// \file dataset.h
/// Loading the training and test halves of an MNIST-format directory, optionally cut short.
#include <cstdint>
#include <string>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// Loads `split` of the MNIST-format directory `dir`, keeping only the first `limit` examples
/// when limit > 0. Throws std::runtime_error with a message that says which directory or file is
/// wrong and how to get Fashion-MNIST on Debian.
tapegrad::data::Dataset load_split(const std::string& dir, tapegrad::data::Split split, int64_t limit);

/// Number of classes: one more than the largest label.
int64_t class_count(const tapegrad::data::Dataset& d);

}  // namespace tapegrad_train
