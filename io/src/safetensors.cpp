// The safetensors format: reading validates the whole header against the real file size before
// allocating any tensor; writing goes through an AtomicFile, so the target path only ever holds
// a complete old file or a complete new one.
#include "tapegrad/io/safetensors.h"

#include "tapegrad/io/atomic_file.h"

#include <spdlog/spdlog.h>

#include "log.h"
#include "safetensors_entries.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <nlohmann/json.hpp>

#include "tapegrad/core/error.h"

namespace tapegrad::io {
namespace {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian port must byte-swap headers and tensor data");

constexpr const char* kMetadataKey = "__metadata__";

[[noreturn]] void fail(const std::string& file, uint64_t offset, const std::string& what) {
  throw Error("safetensors: " + file + ": offset " + std::to_string(offset) + ": " + what);
}

[[noreturn]] void fail_tensor(const std::string& file, const std::string& tensor, uint64_t offset,
                              const std::string& what) {
  throw Error("safetensors: " + file + ": tensor '" + tensor + "': offset " + std::to_string(offset) + ": " + what);
}

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

uint64_t le64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

const char* dtype_code(Dtype d) {
  return d == Dtype::f32 ? "F32" : d == Dtype::f64 ? "F64" : d == Dtype::bf16 ? "BF16" : "I64";
}
Dtype dtype_of_code(const std::string& code) {
  return code == "F32" ? Dtype::f32 : code == "F64" ? Dtype::f64 : code == "BF16" ? Dtype::bf16 : Dtype::i64;
}

// Bytes per element of a dtype code this reader accepts, or 0.
size_t code_size(const std::string& code) {
  if (code == "F32") return 4;
  if (code == "BF16") return 2;
  if (code == "F64" || code == "I64") return 8;
  return 0;
}

// A header entry with the file's dtype code, which may be one a Tensor cannot hold (I64).
struct FileEntry {
  std::string name, code;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// A validated header (see parse_safetensors_header) whose entries keep their codes.
struct FileHeader {
  uint64_t data_start = 0;
  std::vector<FileEntry> entries;
  Metadata metadata;
};

// A JSON number that is a non-negative integer, or nothing.
bool as_u64(const nlohmann::json& j, uint64_t& out) {
  if (j.is_number_unsigned()) {
    out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

// Parses the JSON header, rejecting nesting deeper than the format uses (so hostile input
// cannot build deep trees) and repeated keys in any object (nlohmann would keep the last).
nlohmann::json parse_json(const uint8_t* p, size_t n, const std::string& file) {
  using json = nlohmann::json;
  std::vector<std::set<std::string>> keys;
  auto cb = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth > 2) fail(file, 8, "header nests JSON deeper than the format allows (depth " + std::to_string(depth) + ")");
        if (event == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && !keys.back().insert(parsed.get<std::string>()).second) {
          if (depth == 1) fail_tensor(file, parsed.get<std::string>(), 8, "name appears twice in the header");
          fail(file, 8, "key '" + parsed.get<std::string>() + "' appears twice in one JSON object");
        }
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(p, p + n, cb);
  } catch (const json::parse_error& e) {
    fail(file, 8 + (e.byte > 0 ? e.byte - 1 : 0), std::string("header is not valid JSON: ") + e.what());
  } catch (const json::exception& e) {
    fail(file, 8, std::string("header JSON rejected: ") + e.what());
  }
}

FileEntry parse_entry(const std::string& tname, const nlohmann::json& v, const std::string& file) {
  FileEntry e;
  e.name = tname;
  if (!v.is_object()) fail_tensor(file, tname, 8, "entry is not a JSON object");
  for (const auto& [k, _] : v.items())
    if (k != "dtype" && k != "shape" && k != "data_offsets") fail_tensor(file, tname, 8, "unknown field '" + k + "'");
  const auto dt = v.find("dtype");
  if (dt == v.end() || !dt->is_string()) fail_tensor(file, tname, 8, "missing string field 'dtype'");
  const std::string code = dt->get<std::string>();
  const size_t element_size = code_size(code);
  if (element_size == 0) fail_tensor(file, tname, 8, "unsupported dtype '" + code + "'; tapegrad reads F32, F64, BF16 and I64");
  e.code = code;
  const auto sh = v.find("shape");
  if (sh == v.end() || !sh->is_array()) fail_tensor(file, tname, 8, "missing array field 'shape'");
  // The product of the non-zero sizes must fit too: code that computes strides multiplies
  // them even when another dimension is zero.
  uint64_t nonzero_product = 1;
  bool overflow = false, has_zero = false;
  for (const auto& d : *sh) {
    uint64_t s;
    if (!as_u64(d, s) || s > static_cast<uint64_t>(INT64_MAX))
      fail_tensor(file, tname, 8, "shape entry " + d.dump() + " is not a non-negative integer");
    e.shape.push_back(static_cast<int64_t>(s));
    has_zero = has_zero || s == 0;
    overflow = overflow || __builtin_mul_overflow(nonzero_product, s == 0 ? 1 : s, &nonzero_product);
  }
  const uint64_t numel = has_zero ? 0 : nonzero_product;
  const auto off = v.find("data_offsets");
  if (off == v.end() || !off->is_array() || off->size() != 2 || !as_u64((*off)[0], e.begin) ||
      !as_u64((*off)[1], e.end))
    fail_tensor(file, tname, 8, "'data_offsets' must be [begin, end] with non-negative integers");
  uint64_t nbytes = 0;
  if (overflow || nonzero_product > static_cast<uint64_t>(INT64_MAX) ||
      __builtin_mul_overflow(numel, uint64_t{element_size}, &nbytes))
    fail_tensor(file, tname, 8, "shape " + sh->dump() + ": the product of its sizes (or its byte count) overflows 64 bits");
  if (e.begin > e.end)
    fail_tensor(file, tname, 8, "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                                    "] end before they begin");
  if (e.end - e.begin != nbytes)
    fail_tensor(file, tname, 8, "shape " + sh->dump() + " of " + code + " needs " + std::to_string(nbytes) +
                                    " bytes but data_offsets [" + std::to_string(e.begin) + ", " +
                                    std::to_string(e.end) + "] span " + std::to_string(e.end - e.begin));
  return e;
}

// The JSON header for `entries`, padded so the data that follows starts 8-byte aligned; `op`
// names the caller in errors.
std::string build_header(const std::vector<detail::EntryBytes>& entries, const Metadata& metadata,
                         const std::string& op) {
  nlohmann::ordered_json h = nlohmann::ordered_json::object();
  std::set<std::string> seen;
  uint64_t offset = 0;
  if (!metadata.empty()) h[kMetadataKey] = metadata;
  for (const detail::EntryBytes& e : entries) {
    if (e.name.empty()) throw Error(op + ": a tensor has an empty name");
    if (e.name == kMetadataKey) throw Error(op + ": '__metadata__' is reserved and cannot name a tensor");
    if (!seen.insert(e.name).second) throw Error(op + ": tensor name '" + e.name + "' appears twice");
    if (e.dtype.empty()) throw Error(op + ": tensor '" + e.name + "' is undefined");
    h[e.name] = {{"dtype", e.dtype}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.nbytes}}};
    offset += e.nbytes;
  }
  std::string s;
  try {
    s = h.dump();
  } catch (const nlohmann::json::exception& e) {
    throw Error(op + ": a tensor name or metadata string is not valid UTF-8: " + e.what());
  }
  s.append((8 - s.size() % 8) % 8, ' ');
  return s;
}

std::vector<detail::EntryBytes> entries_of(const NamedTensors& tensors) {
  std::vector<detail::EntryBytes> out;
  out.reserve(tensors.size());
  for (const auto& [name, t] : tensors) out.push_back(detail::entry_of(name, t));
  return out;
}

FileHeader parse_header(const uint8_t* bytes, size_t size, uint64_t file_size, const std::string& name) {
  if (file_size < 8)
    fail(name, 0, "file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
  if (bytes == nullptr || size < 8) throw Error("safetensors: " + name + ": parse_safetensors_header needs at least 8 bytes");
  const uint64_t n = le64(bytes);
  if (n > kSafetensorsMaxHeader)
    fail(name, 0, "header length " + std::to_string(n) + " exceeds the " + std::to_string(kSafetensorsMaxHeader) +
                      "-byte limit");
  if (n > file_size - 8)
    fail(name, 0, "header length " + std::to_string(n) + " but only " + std::to_string(file_size - 8) +
                      " bytes follow");
  if (size < 8 + n) throw Error("safetensors: " + name + ": parse_safetensors_header needs the whole header");
  FileHeader h;
  h.data_start = 8 + n;
  const uint64_t data_size = file_size - h.data_start;
  const nlohmann::json j = parse_json(bytes + 8, static_cast<size_t>(n), name);
  if (!j.is_object()) fail(name, 8, "header is " + std::string(j.type_name()) + ", expected a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) fail(name, 8, "'__metadata__' is not a JSON object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) fail(name, 8, "'__metadata__' value of '" + mk + "' is not a string");
        h.metadata.emplace(mk, mv.get<std::string>());
      }
      continue;
    }
    h.entries.push_back(parse_entry(key, value, name));
  }
  std::stable_sort(h.entries.begin(), h.entries.end(), [](const FileEntry& a, const FileEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const FileEntry* prev = nullptr;
  for (const FileEntry& e : h.entries) {
    if (e.end > data_size)
      fail_tensor(name, e.name, h.data_start + e.begin,
                  "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) +
                      "] run past the data section of " + std::to_string(data_size) + " bytes");
    if (e.begin < pos)
      fail_tensor(name, e.name, h.data_start + e.begin,
                  "data [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") overlaps tensor '" +
                      prev->name + "' [" + std::to_string(prev->begin) + ", " + std::to_string(prev->end) + ")");
    if (e.begin > pos)
      fail_tensor(name, e.name, h.data_start + pos,
                  "gap: data bytes [" + std::to_string(pos) + ", " + std::to_string(e.begin) +
                      ") belong to no tensor");
    pos = e.end;
    prev = &e;
  }
  if (pos != data_size)
    fail(name, h.data_start + pos,
         std::to_string(data_size - pos) + " bytes at the end of the data section belong to no tensor");
  return h;
}

// The tensor of entry `e`, whose `nbytes` bytes `read` copies into the buffer it is given.
template <class Read>
Tensor tensor_of(const FileEntry& e, Read read) {
  const size_t nbytes = static_cast<size_t>(e.end - e.begin);
  Tensor t = empty(Shape(e.shape), dtype_of_code(e.code));
  if (nbytes > 0) read(t.raw_data(), nbytes);
  return t;
}

// Reads the file at `path`, validating its header (see parse_safetensors_header) before
// allocating any tensor.
std::vector<detail::LoadedEntry> load_file(const std::string& path, Metadata* metadata) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), std::fclose);
  if (!f) throw Error("safetensors: " + sys_error(path + ": cannot open"));
  struct stat st;
  if (::fstat(::fileno(f.get()), &st) != 0) throw Error("safetensors: " + sys_error(path + ": cannot stat"));
  if (!S_ISREG(st.st_mode)) throw Error("safetensors: " + path + ": not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8)
    fail(path, 0, "file is " + std::to_string(file_size) + " bytes, too short for the 8-byte header length");
  std::vector<uint8_t> head(8);
  if (std::fread(head.data(), 1, 8, f.get()) != 8) fail(path, 0, "cannot read the header length");
  const uint64_t n = le64(head.data());
  if (n <= kSafetensorsMaxHeader && n <= file_size - 8) {  // else parse_header reports it
    head.resize(8 + n);
    if (std::fread(head.data() + 8, 1, n, f.get()) != n) fail(path, 8, "cannot read the " + std::to_string(n) + "-byte header");
  }
  FileHeader h = parse_header(head.data(), head.size(), file_size, path);
  if (metadata) *metadata = std::move(h.metadata);
  std::vector<detail::LoadedEntry> out;
  // Entries are sorted, contiguous and cover the data section, so one sequential pass reads them.
  for (const FileEntry& e : h.entries) {
    Tensor t = tensor_of(e, [&](void* into, size_t nbytes) {
      if (std::fread(into, 1, nbytes, f.get()) != nbytes)
        fail_tensor(path, e.name, h.data_start + e.begin, "data ends early (was the file truncated while reading?)");
    });
    out.push_back({e.name, e.code, std::move(t)});
  }
  return out;
}

}  // namespace

namespace detail {

EntryBytes entry_of(const std::string& name, const Tensor& t) {
  // An undefined tensor gets no dtype, which build_header reports in its turn among the checks.
  if (!t.defined()) return {name, "", {}, nullptr, 0};
  return {name, dtype_code(t.dtype()), t.shape().vec(), t.raw_data(),
          static_cast<size_t>(t.numel()) * dtype_size(t.dtype())};
}

void save_safetensors_entries(const std::string& path, const std::vector<EntryBytes>& entries,
                              const Metadata& metadata, const std::string& op) {
  const std::string header = build_header(entries, metadata, op);  // validates names before touching disk
  AtomicFile file(path, op);
  const uint64_t n = header.size();
  file.write(&n, 8);
  file.write(header.data(), header.size());
  for (const EntryBytes& e : entries) file.write(e.data, e.nbytes);
  file.commit();
  logger()->debug("{}: {} ({} tensors)", op, path, entries.size());
}

std::vector<LoadedEntry> load_safetensors_entries(const std::string& path) { return load_file(path, nullptr); }

}  // namespace detail

SafetensorsHeader parse_safetensors_header(const uint8_t* bytes, size_t size, uint64_t file_size,
                                           const std::string& name) {
  const FileHeader fh = parse_header(bytes, size, file_size, name);
  SafetensorsHeader h;
  h.data_start = fh.data_start;
  h.metadata = fh.metadata;
  for (const FileEntry& e : fh.entries)
    h.entries.push_back({e.name, dtype_of_code(e.code), e.shape, e.begin, e.end});
  return h;
}

SafetensorsFile parse_safetensors(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size < 8) fail(name, 0, "file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
  const FileHeader h = parse_header(bytes, size, size, name);
  SafetensorsFile out;
  out.metadata = h.metadata;
  for (const FileEntry& e : h.entries) {
    Tensor t = tensor_of(e, [&](void* into, size_t nbytes) { std::memcpy(into, bytes + h.data_start + e.begin, nbytes); });
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

std::vector<uint8_t> serialize_safetensors(const NamedTensors& tensors, const Metadata& metadata) {
  const std::vector<detail::EntryBytes> entries = entries_of(tensors);
  const std::string header = build_header(entries, metadata, "save_safetensors");
  const uint64_t n = header.size();
  size_t total = 8 + header.size();
  for (const detail::EntryBytes& e : entries) total += e.nbytes;
  std::vector<uint8_t> out(total);
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  size_t at = 8 + header.size();
  for (const detail::EntryBytes& e : entries) {
    if (e.nbytes) std::memcpy(out.data() + at, e.data, e.nbytes);
    at += e.nbytes;
  }
  return out;
}

void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata) {
  detail::save_safetensors_entries(path, entries_of(tensors), metadata, "save_safetensors");
}

SafetensorsFile load_safetensors_with_metadata(const std::string& path) {
  SafetensorsFile out;
  for (detail::LoadedEntry& e : load_file(path, &out.metadata)) out.tensors.emplace_back(e.name, std::move(e.value));
  return out;
}

NamedTensors load_safetensors(const std::string& path) { return load_safetensors_with_metadata(path).tensors; }

}  // namespace tapegrad::io
