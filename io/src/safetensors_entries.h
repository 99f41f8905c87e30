#pragma once
// safetensors entries as the file stores them, with the file's dtype code beside each tensor, for
// the PyTorch state dict reader and writer (torch.cpp), which convert BatchNorm's float
// num_batches_tracked to and from PyTorch's I64.
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

// One tensor read from a file, with the dtype code the file gives it (I64: an int64 Tensor).
struct LoadedEntry {
  std::string name;
  std::string dtype;
  Tensor value;
};

// load_safetensors, keeping each entry's dtype code.
std::vector<LoadedEntry> load_safetensors_entries(const std::string& path);

}  // namespace tapegrad::io::detail
