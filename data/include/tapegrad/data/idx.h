#pragma once
/// \file idx.h
/// Reading IDX files, the format of MNIST and Fashion-MNIST, plain or gzip-compressed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad::data {

/// An array read from an IDX file: its dimension sizes (outermost first) and its elements,
/// row-major. Only element type 0x08 (unsigned byte) is supported, so the elements are bytes.
struct IdxArray {
  /// Sizes of the dimensions, e.g. {60000, 28, 28}.
  std::vector<int64_t> dims;
  /// The elements, row-major; its size is the product of `dims`.
  std::vector<uint8_t> data;
};

/// Largest element payload an IDX file may claim or decompress to (2 GiB).
inline constexpr uint64_t kIdxMaxBytes = uint64_t{2} << 30;
/// Largest dimension count accepted (the format allows 255; real files use 1 to 4).
inline constexpr int kIdxMaxDims = 16;

/// Parses an IDX file held in memory; `bytes` may be gzip-compressed (detected by the magic
/// 1f 8b). `name` is used only in error messages. Throws tapegrad::Error on malformed input,
/// naming `name` and the byte offset: for gzip input, errors in the IDX content give offsets in
/// the decompressed stream, errors in the gzip stream itself offsets in the compressed one. Never
/// allocates more than the input actually holds (or decompresses to), nor more than kIdxMaxBytes.
IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& name);

/// Reads and parses the IDX file at `path` (plain or gzip); throws tapegrad::Error on I/O
/// failure or malformed content, naming the file.
IdxArray read_idx(const std::string& path);

}  // namespace tapegrad::data
