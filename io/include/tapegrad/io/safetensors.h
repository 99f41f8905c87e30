#pragma once
/// \file safetensors.h
/// Reading and writing tensors in the safetensors format (checkpoints are in checkpoint.h).
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32"|"F64"|"I64", "shape": [...], "data_offsets": [begin, end]}, ...,
/// "__metadata__": {"key": "value"}}` padded with spaces so the data starts 8-byte aligned,
/// then the raw little-endian tensor data; offsets are relative to the start of the data.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/tensor.h"

namespace tapegrad::io {

/// Free-form string key/value pairs stored under "__metadata__".
using Metadata = std::map<std::string, std::string>;

/// Largest JSON header accepted when loading (100 MB, as in the reference implementation).
inline constexpr uint64_t kSafetensorsMaxHeader = 100'000'000;

/// The contents of a safetensors file: tensors in file order (the order they were saved in)
/// and the metadata.
struct SafetensorsFile {
  /// The tensors, in increasing data offset (the order save_safetensors wrote them).
  NamedTensors tensors;
  /// The "__metadata__" entries (empty if absent).
  Metadata metadata;
};

/// One tensor's entry in a validated header.
struct SafetensorsEntry {
  /// The tensor's name.
  std::string name;
  /// Element type (F32, F64 or I64 in the file).
  Dtype dtype = Dtype::f32;
  /// Dimension sizes.
  std::vector<int64_t> shape;
  /// Byte range [begin, end) of the data, relative to the data section.
  uint64_t begin = 0;
  /// One past the last byte of the data, relative to the data section.
  uint64_t end = 0;
};

/// A validated header: where the data section starts and what it holds.
struct SafetensorsHeader {
  /// File offset of the data section (8 + header length).
  uint64_t data_start = 0;
  /// Entries sorted by data offset; they cover the data section exactly, without overlap.
  std::vector<SafetensorsEntry> entries;
  /// The "__metadata__" entries.
  Metadata metadata;
};

/// Validates the header of a safetensors image of `file_size` bytes, given its first
/// `size` bytes (at least the 8-byte length and the JSON header). Checks the header length
/// against the file size, the JSON, every dtype and shape, that shape × dtype size equals
/// end − begin, that offsets lie in the data section and cover it without overlap or gap, and
/// that no name repeats. Throws tapegrad::Error naming `name`, the tensor and the byte offset.
SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t size, uint64_t file_size,
                                           const std::string& name);

/// Parses a complete safetensors image held in memory (for tests and fuzzing); `name` is used
/// in error messages. Validates everything (see parse_safetensors_header) before copying data.
SafetensorsFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& name);

/// The bytes of a safetensors file holding `tensors` and `metadata`. Throws tapegrad::Error
/// on an undefined tensor, an empty or repeated name, or a name equal to "__metadata__".
std::vector<uint8_t> serialize_safetensors(const NamedTensors& tensors, const Metadata& metadata = {});

/// Writes `tensors` and `metadata` to `path` atomically: the bytes go to a uniquely named
/// temporary file in the same directory, which is flushed, fsync'ed and renamed over `path`,
/// then the directory is fsync'ed. On any failure the temporary file is removed, `path` is left
/// as it was, and tapegrad::Error is thrown.
void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {});

/// Reads the tensors of the safetensors file at `path`, in saved order. The header is fully
/// validated against the file size before any tensor is allocated; throws tapegrad::Error.
NamedTensors load_safetensors(const std::string& path);

/// Reads the tensors and the metadata of the safetensors file at `path`.
SafetensorsFile load_safetensors_with_metadata(const std::string& path);

}  // namespace tapegrad::io
