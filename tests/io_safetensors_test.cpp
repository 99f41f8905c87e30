#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "test_dir.h"

namespace tg = tapegrad;
namespace tio = tapegrad::io;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

// Each test's own directory under the system's temporary directory.
struct TempDir : tapegrad_test::TestDir {
  TempDir() : TestDir("tapegrad_io_") {}
};
using tapegrad_test::read_bytes;

// A safetensors image from a header string (padded by nothing) and raw data bytes.
Bytes image(const std::string& header, const Bytes& data) {
  // Sized once and filled by memcpy: GCC 12 misreads insert() after a small vector as an
  // out-of-bounds copy (-Warray-bounds).
  Bytes b(8 + header.size() + data.size());
  const uint64_t n = header.size();
  std::memcpy(b.data(), &n, 8);
  std::memcpy(b.data() + 8, header.data(), header.size());
  if (!data.empty()) std::memcpy(b.data() + 8 + header.size(), data.data(), data.size());
  return b;
}

std::string message_of(const Bytes& b) {
  try {
    tio::parse_safetensors(b.data(), b.size(), "m.st");
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

tg::NamedTensors sample() {
  return {{"w", tg::tensor({{1.5, -2.0, 3.25}, {0.0, 1e-3, -7.0}})},
          {"b", tg::tensor({0.125, 42.0}, tg::Dtype::f64)},
          {"scalar", tg::tensor(-3.5)},
          {"empty", tg::zeros({0, 4})},
          {"a.last", tg::tensor({9.0})}};
}

void expect_same(const tg::NamedTensors& a, const tg::NamedTensors& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second.shape(), b[i].second.shape()) << a[i].first;
    EXPECT_EQ(a[i].second.dtype(), b[i].second.dtype()) << a[i].first;
    EXPECT_EQ(a[i].second.to_vector<double>(), b[i].second.to_vector<double>()) << a[i].first;
  }
}

}  // namespace

TEST(IoSafetensors, RoundTripsThroughAFileInSavedOrder) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  tio::save_safetensors(p, sample(), {{"epoch", "3"}, {"note", "hello"}});
  const tio::SafetensorsFile f = tio::load_safetensors_with_metadata(p);
  expect_same(f.tensors, sample());
  EXPECT_EQ(f.metadata, (tio::Metadata{{"epoch", "3"}, {"note", "hello"}}));
  expect_same(tio::load_safetensors(p), sample());
  EXPECT_EQ(dir.entries(), 1u) << "no temporary file may remain";
  const Bytes b = read_bytes(p);
  uint64_t n;
  std::memcpy(&n, b.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u) << "data must start 8-byte aligned";
  EXPECT_EQ(b[8], '{');
  EXPECT_EQ(tio::serialize_safetensors(sample(), {{"epoch", "3"}, {"note", "hello"}}), b);
}

TEST(IoSafetensors, ReadsTheReferenceLayout) {
  // Written by hand from the format description: a 2x1 F32 and a 1-element F64.
  const std::string h =
      R"({"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]},)"
      R"("y":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})";
  Bytes data(16);
  const float x[2] = {1.0f, -2.5f};
  const double y = 0.1;
  std::memcpy(data.data(), x, 8);
  std::memcpy(data.data() + 8, &y, 8);
  const tio::SafetensorsFile f = tio::parse_safetensors(image(h, data).data(), image(h, data).size(), "ref");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "x");
  EXPECT_EQ(f.tensors[0].second.shape(), (tg::Shape{2, 1}));
  EXPECT_EQ(f.tensors[0].second.at({1, 0}), -2.5);
  EXPECT_EQ(f.tensors[1].second.dtype(), tg::Dtype::f64);
  EXPECT_EQ(f.tensors[1].second.item(), 0.1);
  EXPECT_EQ(f.metadata.at("format"), "pt");
}

TEST(IoSafetensors, TruncationAtEveryOffsetThrows) {
  const Bytes b = tio::serialize_safetensors(sample(), {{"k", "v"}});
  for (size_t n = 0; n < b.size(); ++n)
    EXPECT_THROW(tio::parse_safetensors(b.data(), n, "t"), tg::Error) << "truncated to " << n << " bytes";
  Bytes longer = b;
  longer.push_back(0);
  EXPECT_NE(message_of(longer).find("1 bytes at the end of the data section belong to no tensor"), std::string::npos)
      << message_of(longer);
}

TEST(IoSafetensors, MalformedHeadersGiveSpecificErrors) {
  const Bytes four(8, 0);
  const std::string ok = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  struct Case {
    Bytes bytes;
    std::string expected;
  };
  Bytes huge(8, 0xff);
  Bytes claims(8, 0);
  claims[0] = 100;
  const std::string overlap =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  const std::string gap =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  // Data offsets in messages are absolute file offsets: 8 + header length + relative offset.
  auto at = [](const std::string& header, size_t rel) { return "offset " + std::to_string(8 + header.size() + rel); };
  const std::vector<Case> cases = {
      {Bytes{1, 2, 3}, "safetensors: m.st: offset 0: file is 3 bytes, too short for the 8-byte header length"},
      {huge, "offset 0: header length 18446744073709551615 exceeds the 100000000-byte limit"},
      {claims, "offset 0: header length 100 but only 0 bytes follow"},
      {image("{\"t\":", {}), "offset 13: header is not valid JSON"},
      {image("[1,2]", {}), "offset 8: header is array, expected a JSON object"},
      {image("{" + ok + "}", Bytes(4)),
       "tensor 't': " + at("{" + ok + "}", 0) + ": data_offsets [0, 8] run past the data section of 4 bytes"},
      {image(R"({"t":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", Bytes(4)),
       "tensor 't': offset 8: unsupported dtype 'F16'; tapegrad reads F32, F64, BF16 and I64"},
      {image(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", Bytes(8)),
       "tensor 't': offset 8: shape [3] of F32 needs 12 bytes but data_offsets [0, 8] span 8"},
      {image(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", Bytes(8)),
       "shape entry -2 is not a non-negative integer"},
      {image(R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", Bytes(8)),
       "shape entry 2.0 is not a non-negative integer"},
      {image(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", Bytes(8)),
       "the product of its sizes (or its byte count) overflows 64 bits"},
      {image(R"({"t":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", {}),
       "the product of its sizes (or its byte count) overflows 64 bits"},
      {image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", Bytes(8)), "end before they begin"},
      {image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", Bytes(8)),
       "'data_offsets' must be [begin, end]"},
      {image(R"({"t":{"dtype":"F32","shape":[2]}})", Bytes(8)), "'data_offsets' must be [begin, end]"},
      {image(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", Bytes(8)), "missing string field 'dtype'"},
      {image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", Bytes(8)),
       "unknown field 'extra'"},
      {image(R"({"t":[1]})", Bytes(0)), "tensor 't': offset 8: entry is not a JSON object"},
      {image(overlap, Bytes(8)), "tensor 'b': " + at(overlap, 4) + ": data [4, 8) overlaps tensor 'a' [0, 8)"},
      {image(gap, Bytes(12)), "tensor 'b': " + at(gap, 4) + ": gap: data bytes [4, 8) belong to no tensor"},
      {image("{" + ok + "," + ok + "}", Bytes(8)), "tensor 't': offset 8: name appears twice in the header"},
      {image(R"({"__metadata__":{"k":1}})", {}), "'__metadata__' value of 'k' is not a string"},
      {image(R"({"__metadata__":[]})", {}), "'__metadata__' is not a JSON object"},
      {image(R"({"t":{"dtype":"F32","shape":[[[[1]]]],"data_offsets":[0,4]}})", Bytes(4)),
       "header nests JSON deeper than the format allows"},
      {image(std::string(200000, '['), {}), "header nests JSON deeper than the format allows"},
  };
  for (const Case& c : cases) {
    const std::string m = message_of(c.bytes);
    EXPECT_NE(m.find(c.expected), std::string::npos) << "expected: " << c.expected << "\n     got: " << m;
    EXPECT_EQ(m.rfind("safetensors: m.st: ", 0), 0u) << m;
  }
}

TEST(IoSafetensors, SaveRejectsBadNamesBeforeTouchingDisk) {
  TempDir dir;
  const std::string p = dir.file("x.st");
  EXPECT_THROW(tio::save_safetensors(p, {{"a", tg::tensor(1.0)}, {"a", tg::tensor(2.0)}}), tg::Error);
  EXPECT_THROW(tio::save_safetensors(p, {{"a", tg::Tensor()}}), tg::Error);
  EXPECT_THROW(tio::save_safetensors(p, {{"__metadata__", tg::tensor(1.0)}}), tg::Error);
  EXPECT_THROW(tio::save_safetensors(p, {{"", tg::tensor(1.0)}}), tg::Error);
  EXPECT_THROW(tio::save_safetensors(p, {{"bad\xff", tg::tensor(1.0)}}), tg::Error);
  EXPECT_EQ(dir.entries(), 0u);
  EXPECT_THROW(tio::save_safetensors(dir.file("no/such/dir/x.st"), sample()), tg::Error);
}

TEST(IoSafetensors, FailedSaveLeavesThePreviousFileIntact) {
  TempDir dir;
  const std::string p = dir.file("ckpt.safetensors");
  tio::save_safetensors(p, sample(), {{"version", "old"}});
  const Bytes before = read_bytes(p);
  // Inject a write failure: a file-size limit makes write(2) fail with EFBIG midway through the
  // 4 MB tensor (SIGXFSZ ignored so the process survives). Works even as root, unlike chmod.
  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 64 * 1024;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  std::string message;
  try {
    tio::save_safetensors(p, {{"big", tg::zeros({1024, 1024})}}, {{"version", "new"}});
  } catch (const tg::Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_NE(message.find("save_safetensors: write to "), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_EQ(read_bytes(p), before);
  EXPECT_EQ(tio::load_safetensors_with_metadata(p).metadata.at("version"), "old");
  EXPECT_EQ(dir.entries(), 1u) << "the temporary file must be removed";
  // And a save that succeeds replaces it whole.
  tio::save_safetensors(p, {{"big", tg::ones({256, 256})}}, {{"version", "new"}});
  EXPECT_EQ(tio::load_safetensors_with_metadata(p).metadata.at("version"), "new");
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(IoSafetensors, LoadingATruncatedFileNamesFileTensorAndOffset) {
  TempDir dir;
  const std::string p = dir.file("cut.st");
  tio::save_safetensors(p, {{"w", tg::ones({10})}});
  const Bytes b = read_bytes(p);
  fs::resize_file(p, b.size() - 4);
  try {
    tio::load_safetensors(p);
    ADD_FAILURE() << "truncated file accepted";
  } catch (const tg::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("safetensors: " + p + ": tensor 'w': offset "), std::string::npos) << m;
    EXPECT_NE(m.find("run past the data section of 36 bytes"), std::string::npos) << m;
  }
  EXPECT_THROW(tio::load_safetensors(dir.file("missing.st")), tg::Error);
}

TEST(IoCheckpoint, PrefixesAndSplitsModelAndOptimizerState) {
  TempDir dir;
  const std::string p = dir.file("ck.safetensors");
  const tg::NamedTensors model = {{"0.weight", tg::ones({2, 3})}, {"0.bias", tg::zeros({3})}};
  const tg::NamedTensors optim = {{"step", tg::tensor(10.0, tg::Dtype::f64)}, {"0.weight.m", tg::full({2, 3}, 0.5)}};
  tio::save_checkpoint(p, model, optim, {{"epoch", "4"}});
  const tg::NamedTensors raw = tio::load_safetensors(p);
  ASSERT_EQ(raw.size(), 4u);
  EXPECT_EQ(raw[0].first, "model.0.weight");
  EXPECT_EQ(raw[2].first, "optim.step");
  const tio::Checkpoint ck = tio::load_checkpoint(p);
  expect_same(ck.model, model);
  expect_same(ck.optimizer, optim);
  EXPECT_EQ(ck.metadata.at("epoch"), "4");
  tio::save_safetensors(p, {{"loose", tg::tensor(1.0)}});
  EXPECT_THROW(tio::load_checkpoint(p), tg::Error);
}
