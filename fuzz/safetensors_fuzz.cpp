// libFuzzer target: parse_safetensors must either return tensors matching the header or throw
// tapegrad::Error, for any input, without crashing, leaking or reading outside the buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tapegrad/core/error.h"
#include "tapegrad/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tapegrad::io::SafetensorsFile f = tapegrad::io::parse_safetensors(data, size, "fuzz");
    // Whatever parses must serialize again and parse to the same tensors.
    const std::vector<uint8_t> again = tapegrad::io::serialize_safetensors(f.tensors, f.metadata);
    const tapegrad::io::SafetensorsFile g = tapegrad::io::parse_safetensors(again.data(), again.size(), "again");
    if (g.tensors.size() != f.tensors.size() || g.metadata != f.metadata) std::abort();
    for (size_t i = 0; i < f.tensors.size(); ++i)
      if (g.tensors[i].first != f.tensors[i].first || !(g.tensors[i].second.shape() == f.tensors[i].second.shape()))
        std::abort();
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
