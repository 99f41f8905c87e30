// IDX reader. Every size the file claims is checked against the bytes actually present before
// anything of that size is allocated; gzip input is inflated in geometrically growing steps,
// so a lying header or a decompression bomb costs at most twice what really decompresses.
#include "tapegrad/data/idx.h"

#include <sys/stat.h>

#include <zlib.h>
#ifdef TAPEGRAD_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "tapegrad/core/error.h"

namespace tapegrad::data {
namespace {

[[noreturn]] void fail(const std::string& name, uint64_t offset, const std::string& what) {
  throw Error("idx: " + name + ": offset " + std::to_string(offset) + ": " + what);
}

std::string hex2(unsigned v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02x", v & 0xffu);
  return buf;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

struct Header {
  std::vector<int64_t> dims;
  size_t header_bytes = 0;  // 4 + 4 * dims.size()
  uint64_t payload = 0;     // product of dims, checked against kIdxMaxBytes
};

// Parses the header from the first n bytes. Returns false if n is too short to hold all of it
// (nothing seen so far is wrong); throws on anything malformed.
bool parse_header(const uint8_t* p, size_t n, const std::string& name, Header& h) {
  if (n >= 2 && (p[0] != 0 || p[1] != 0))
    fail(name, 0, "bad magic " + hex2(p[0]) + " " + hex2(p[1]) + ", expected 0x00 0x00 (not an IDX file)");
  if (n >= 3 && p[2] != 0x08)
    fail(name, 2, "unsupported element type " + hex2(p[2]) + "; only 0x08 (unsigned byte) is supported");
  if (n >= 4 && (p[3] == 0 || p[3] > kIdxMaxDims))
    fail(name, 3, "dimension count " + std::to_string(p[3]) + ", expected 1 to " + std::to_string(kIdxMaxDims));
  if (n < 4) return false;
  const size_t ndim = p[3];
  if (n < 4 + 4 * ndim) return false;
  h.dims.assign(ndim, 0);
  h.header_bytes = 4 + 4 * ndim;
  uint64_t product = 1;
  bool overflow = false;
  for (size_t i = 0; i < ndim; ++i) {
    h.dims[i] = be32(p + 4 + 4 * i);
    overflow = overflow || __builtin_mul_overflow(product, static_cast<uint64_t>(h.dims[i]), &product);
  }
  std::string sizes;
  for (size_t i = 0; i < ndim; ++i) sizes += (i ? " x " : "") + std::to_string(h.dims[i]);
  if (overflow) fail(name, 4, "sizes " + sizes + " overflow 64 bits");
  if (product > kIdxMaxBytes)
    fail(name, 4, "sizes " + sizes + " claim " + std::to_string(product) + " bytes, more than the " +
                      std::to_string(kIdxMaxBytes) + "-byte limit");
  h.payload = product;
  return true;
}

// Checks the header and the payload length of a complete (decompressed) IDX image.
Header check_plain(const uint8_t* p, size_t n, const std::string& name) {
  Header h;
  if (!parse_header(p, n, name, h)) {
    if (n < 4) fail(name, n, "header truncated: the 4-byte magic needs " + std::to_string(4 - n) + " more bytes");
    fail(name, n, "header truncated: " + std::to_string(p[3]) + " dimensions need " +
                      std::to_string(4 + 4 * size_t{p[3]}) + " header bytes, file has " + std::to_string(n));
  }
  const uint64_t have = n - h.header_bytes;
  if (have < h.payload)
    fail(name, h.header_bytes, "data truncated: expected " + std::to_string(h.payload) + " bytes, file has " +
                                   std::to_string(have));
  if (have > h.payload)
    fail(name, h.header_bytes + h.payload,
         std::to_string(have - h.payload) + " trailing bytes after the " + std::to_string(h.payload) + " data bytes");
  return h;
}

bool is_gzip(const uint8_t* p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

// Inflates gzip input (one or more members) into the decompressed IDX image, stopping one byte
// past what the header claims so that trailing bytes are detected without inflating them all.
std::vector<uint8_t> gunzip(const uint8_t* in, size_t n, const std::string& name, Header& h, bool& header_known) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw Error("idx: " + name + ": zlib inflateInit2 failed");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  std::vector<uint8_t> out;
  size_t produced = 0;
  size_t consumed = 0;  // compressed bytes handed to zlib and used
  uint64_t limit = kIdxMaxBytes + 4 + 4 * kIdxMaxDims + 1;
  header_known = false;
  for (;;) {
    if (produced == out.size()) {
      if (produced >= limit) break;
      size_t grow = std::max<size_t>(size_t{64} << 10, out.size());
      out.resize(static_cast<size_t>(std::min<uint64_t>(limit, uint64_t{out.size()} + grow)));
    }
    const size_t in_chunk = std::min<size_t>(n - consumed, UINT_MAX);
    const size_t out_chunk = std::min<size_t>(out.size() - produced, UINT_MAX);
    zs.next_in = const_cast<Bytef*>(in + consumed);
    zs.avail_in = static_cast<uInt>(in_chunk);
    zs.next_out = out.data() + produced;
    zs.avail_out = static_cast<uInt>(out_chunk);
    const int ret = inflate(&zs, Z_NO_FLUSH);
    consumed += in_chunk - zs.avail_in;
    produced += out_chunk - zs.avail_out;
    if (!header_known && parse_header(out.data(), produced, name, h)) {
      header_known = true;
      limit = h.header_bytes + h.payload + 1;
    }
    if (ret == Z_STREAM_END) {
      if (consumed == n) break;
      if (!is_gzip(in + consumed, n - consumed))
        fail(name, consumed, std::to_string(n - consumed) + " bytes of garbage after the gzip stream");
      inflateReset(&zs);  // another gzip member follows
      continue;
    }
    if (ret == Z_DATA_ERROR)
      fail(name, consumed, std::string("corrupt gzip data: ") + (zs.msg ? zs.msg : "inflate failed"));
    if (ret == Z_MEM_ERROR) throw Error("idx: " + name + ": zlib ran out of memory");
    if (ret == Z_NEED_DICT) fail(name, consumed, "gzip stream needs a preset dictionary");
    if (ret == Z_BUF_ERROR && consumed == n && zs.avail_out > 0)
      fail(name, consumed, "gzip stream truncated: compressed data ends after " + std::to_string(produced) +
                               " decompressed bytes");
  }
  out.resize(produced);
  return out;
}

// The fast path: one gzip member whose trailer's size is plausible, inflated by libdeflate in one
// call. False, with `out` unspecified, for anything else (several members, corrupt or truncated
// data): gunzip() then reads the file again and names the offset of what is wrong.
bool inflate_whole(const uint8_t* in, size_t n, std::vector<uint8_t>& out) {
#ifdef TAPEGRAD_HAVE_LIBDEFLATE
  if (n < 18) return false;  // header (10) + trailer (8)
  const uint64_t isize = uint64_t{in[n - 4]} | uint64_t{in[n - 3]} << 8 | uint64_t{in[n - 2]} << 16 |
                         uint64_t{in[n - 1]} << 24;
  // Deflate expands at most 1032:1: a larger claim is a lie, not a reason to allocate.
  if (isize > kIdxMaxBytes + 4 + 4 * kIdxMaxDims || isize > uint64_t{n} * 1032) return false;
  std::unique_ptr<libdeflate_decompressor, void (*)(libdeflate_decompressor*)> d(libdeflate_alloc_decompressor(),
                                                                                 libdeflate_free_decompressor);
  if (!d) return false;
  out.resize(static_cast<size_t>(isize));
  size_t used = 0, produced = 0;
  const libdeflate_result r = libdeflate_gzip_decompress_ex(d.get(), in, n, out.data(), out.size(), &used, &produced);
  return r == LIBDEFLATE_SUCCESS && used == n && produced == out.size();
#else
  (void)in, (void)n, (void)out;
  return false;
#endif
}

}  // namespace

IdxArray parse_idx(const uint8_t* bytes, size_t size, const std::string& name) {
  if (bytes == nullptr && size != 0) throw Error("idx: " + name + ": null buffer with size " + std::to_string(size));
  IdxArray result;
  if (!is_gzip(bytes, size)) {
    Header h = check_plain(bytes, size, name);
    result.dims = std::move(h.dims);
    result.data.assign(bytes + h.header_bytes, bytes + h.header_bytes + h.payload);
    return result;
  }
  Header h;
  bool header_known = false;
  std::vector<uint8_t> raw;
  if (!inflate_whole(bytes, size, raw)) raw = gunzip(bytes, size, name, h, header_known);
  if (header_known && raw.size() > h.header_bytes + h.payload)
    fail(name, h.header_bytes + h.payload,
         "trailing bytes after the " + std::to_string(h.payload) + " data bytes (decompressed stream is longer)");
  h = check_plain(raw.data(), raw.size(), name);
  raw.erase(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(h.header_bytes));
  raw.shrink_to_fit();
  result.dims = std::move(h.dims);
  result.data = std::move(raw);
  return result;
}

IdxArray read_idx(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw Error("idx: " + path + ": cannot open: " + std::strerror(errno));
  // fopen opens a directory too, and ftell then reports a nonsense size: check the kind first.
  struct stat st;
  if (::fstat(::fileno(f.get()), &st) != 0) throw Error("idx: " + path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    throw Error("idx: " + path + ": not a regular file (" + (S_ISDIR(st.st_mode) ? "a directory" : "a device or pipe") +
                "); expected an IDX file such as train-images-idx3-ubyte(.gz)");
  if (std::fseek(f.get(), 0, SEEK_END) != 0) throw Error("idx: " + path + ": cannot seek: " + std::strerror(errno));
  const long end = std::ftell(f.get());
  if (end < 0) throw Error("idx: " + path + ": cannot tell size: " + std::strerror(errno));
  const uint64_t size = static_cast<uint64_t>(end);
  if (size > kIdxMaxBytes + 4 + 4 * kIdxMaxDims)
    throw Error("idx: " + path + ": file is " + std::to_string(size) + " bytes, more than the " +
                std::to_string(kIdxMaxBytes) + "-byte limit");
  std::rewind(f.get());
  std::vector<uint8_t> buf(static_cast<size_t>(size));
  if (size > 0 && std::fread(buf.data(), 1, buf.size(), f.get()) != buf.size())
    throw Error("idx: " + path + ": read failed: " + std::strerror(errno));
  return parse_idx(buf.data(), buf.size(), path);
}

}  // namespace tapegrad::data
