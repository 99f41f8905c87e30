// libFuzzer target: parse_idx must either return a consistent array or throw tapegrad::Error,
// for any input, plain or gzip, without crashing, leaking or allocating beyond the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tapegrad/core/error.h"
#include "tapegrad/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const tapegrad::data::IdxArray a = tapegrad::data::parse_idx(data, size, "fuzz");
    uint64_t n = 1;
    for (int64_t d : a.dims) n *= static_cast<uint64_t>(d);
    if (a.dims.empty() || n != a.data.size()) std::abort();  // sizes and data must agree
  } catch (const tapegrad::Error&) {
  }
  return 0;
}
