#pragma once
// safetensors entries as the file stores them, for writers and readers whose dtypes are not a
// Tensor's: PyTorch's state dicts hold BatchNorm's num_batches_tracked as I64 (torch.cpp). The
// public save_safetensors and load_safetensors are these with F32 and F64 only.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.h"
#include "tapegrad/io/safetensors.h"

namespace tapegrad::io::detail {

// One tensor to write: its dtype code ("F32", "F64", "I64"), shape and little-endian bytes,
// which the caller keeps alive until the write returns.
struct EntryBytes {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// The entry of a Tensor, pointing at its data (no copy).
EntryBytes entry_of(const std::string& name, const Tensor& t);

// save_safetensors of any entries; `op` names the caller in errors about names and files.
void save_safetensors_entries(const std::string& path, const std::vector<EntryBytes>& entries,
                              const Metadata& metadata, const std::string& op);

// One tensor read from a file, with the dtype code the file gives it; an I64 tensor's values are
// converted to a float64 Tensor (exact up to 2^53).
struct LoadedEntry {
  std::string name;
  std::string dtype;
  Tensor value;
};

// load_safetensors that accepts I64 besides F32 and F64, with the same validation.
std::vector<LoadedEntry> load_safetensors_entries(const std::string& path);

}  // namespace tapegrad::io::detail
