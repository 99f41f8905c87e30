#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;
namespace td = tapegrad::data;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

// An IDX image of unsigned bytes with the given sizes; the data is (i * 7 + 3) mod 256.
Bytes make_idx(const std::vector<uint32_t>& dims, int64_t data_bytes = -1) {
  Bytes b = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  uint64_t n = 1;
  for (uint32_t d : dims) {
    b.push_back(d >> 24), b.push_back(d >> 16), b.push_back(d >> 8), b.push_back(d);
    n *= d;
  }
  if (data_bytes >= 0) n = static_cast<uint64_t>(data_bytes);
  for (uint64_t i = 0; i < n; ++i) b.push_back(static_cast<uint8_t>(i * 7 + 3));
  return b;
}

uint32_t crc32(const Bytes& data) {
  uint32_t c = 0xffffffffu;
  for (uint8_t byte : data) {
    c ^= byte;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

// A gzip member holding `data` in stored (uncompressed) deflate blocks: enough to exercise the
// reader's gzip path without linking zlib into the tests.
Bytes gzip_stored(const Bytes& data) {
  Bytes g = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
  size_t pos = 0;
  do {
    const size_t len = std::min<size_t>(65535, data.size() - pos);
    const bool last = pos + len == data.size();
    g.push_back(last ? 1 : 0);
    g.push_back(len & 0xff), g.push_back(len >> 8);
    g.push_back(~len & 0xff), g.push_back((~len >> 8) & 0xff);
    g.insert(g.end(), data.begin() + pos, data.begin() + pos + len);
    pos += len;
  } while (pos < data.size());
  const uint32_t crc = crc32(data), size = static_cast<uint32_t>(data.size());
  for (int i = 0; i < 4; ++i) g.push_back(crc >> (8 * i));
  for (int i = 0; i < 4; ++i) g.push_back(size >> (8 * i));
  return g;
}

std::string message_of(const Bytes& b, const std::string& name = "t.idx") {
  try {
    td::parse_idx(b.data(), b.size(), name);
  } catch (const tg::Error& e) {
    return e.what();
  }
  return "(no error)";
}

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("tapegrad_data_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string write(const std::string& name, const Bytes& b) const {
    std::ofstream(path / name, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), b.size());
    return (path / name).string();
  }
};

}  // namespace

TEST(DataIdx, ParsesPlainBytes) {
  const Bytes b = make_idx({3, 2, 2});
  const td::IdxArray a = td::parse_idx(b.data(), b.size(), "x");
  EXPECT_EQ(a.dims, (std::vector<int64_t>{3, 2, 2}));
  ASSERT_EQ(a.data.size(), 12u);
  EXPECT_EQ(a.data[0], 3);
  EXPECT_EQ(a.data[11], static_cast<uint8_t>(11 * 7 + 3));
}

TEST(DataIdx, ParsesGzipAndMultiMemberGzip) {
  const Bytes plain = make_idx({200, 400});  // 80000 bytes: two stored blocks
  const Bytes gz = gzip_stored(plain);
  const td::IdxArray a = td::parse_idx(gz.data(), gz.size(), "x.gz");
  EXPECT_EQ(a.dims, (std::vector<int64_t>{200, 400}));
  EXPECT_EQ(a.data, Bytes(plain.begin() + 12, plain.end()));
  // gzip allows concatenated members; `cat a.gz b.gz` must decompress to the concatenation.
  Bytes first(plain.begin(), plain.begin() + 5000), second(plain.begin() + 5000, plain.end());
  Bytes two = gzip_stored(first);
  const Bytes g2 = gzip_stored(second);
  two.insert(two.end(), g2.begin(), g2.end());
  EXPECT_EQ(td::parse_idx(two.data(), two.size(), "x.gz").data, a.data);
}

TEST(DataIdx, ReadsFilesFromDisk) {
  TempDir dir;
  const Bytes plain = make_idx({5, 3});
  const td::IdxArray a = td::read_idx(dir.write("a-idx2-ubyte", plain));
  const td::IdxArray b = td::read_idx(dir.write("a-idx2-ubyte.gz", gzip_stored(plain)));
  EXPECT_EQ(a.dims, b.dims);
  EXPECT_EQ(a.data, b.data);
  EXPECT_THROW(td::read_idx((dir.path / "missing").string()), tg::Error);
}

TEST(DataIdx, ErrorsNameTheFileAndOffset) {
  Bytes b = make_idx({4});
  b[0] = 0x12;
  EXPECT_EQ(message_of(b), "idx: t.idx: offset 0: bad magic 0x12 0x00, expected 0x00 0x00 (not an IDX file)");
  b = make_idx({4});
  b[2] = 0x0d;
  EXPECT_EQ(message_of(b), "idx: t.idx: offset 2: unsupported element type 0x0d; only 0x08 (unsigned byte) is supported");
  b = make_idx({4});
  b[3] = 0;
  EXPECT_EQ(message_of(b), "idx: t.idx: offset 3: dimension count 0, expected 1 to 16");
  b[3] = 200;
  EXPECT_EQ(message_of(b), "idx: t.idx: offset 3: dimension count 200, expected 1 to 16");
  EXPECT_EQ(message_of(make_idx({60000, 28, 28}, 1000), "train-images.gz"),
            "idx: train-images.gz: offset 16: data truncated: expected 47040000 bytes, file has 1000");
  EXPECT_EQ(message_of(make_idx({2, 2}, 7)), "idx: t.idx: offset 16: 3 trailing bytes after the 4 data bytes");
  EXPECT_EQ(message_of(Bytes{0, 0, 8, 3, 0, 0}),
            "idx: t.idx: offset 6: header truncated: 3 dimensions need 16 header bytes, file has 6");
  EXPECT_EQ(message_of(Bytes{}), "idx: t.idx: offset 0: header truncated: the 4-byte magic needs 4 more bytes");
}

TEST(DataIdx, TruncationAtEveryOffsetThrows) {
  const Bytes b = make_idx({3, 5, 4});
  for (size_t n = 0; n < b.size(); ++n)
    EXPECT_THROW(td::parse_idx(b.data(), n, "t"), tg::Error) << "truncated to " << n << " bytes";
  const Bytes gz = gzip_stored(b);
  for (size_t n = 0; n < gz.size(); ++n)
    EXPECT_THROW(td::parse_idx(gz.data(), n, "t.gz"), tg::Error) << "gzip truncated to " << n << " bytes";
  // The gzip stream itself is intact but holds a truncated IDX file.
  const Bytes cut = gzip_stored(Bytes(b.begin(), b.end() - 9));
  EXPECT_NE(message_of(cut, "t.gz").find("offset 16: data truncated: expected 60 bytes, file has 51"), std::string::npos)
      << message_of(cut, "t.gz");
}

TEST(DataIdx, CorruptGzipThrows) {
  const Bytes b = make_idx({10, 10});
  Bytes gz = gzip_stored(b);
  gz[gz.size() - 12] ^= 0xff;  // a data byte: the CRC no longer matches
  EXPECT_NE(message_of(gz, "c.gz").find("corrupt gzip data"), std::string::npos) << message_of(gz, "c.gz");
  gz = gzip_stored(b);
  gz[gz.size() - 1] ^= 0x01;  // ISIZE trailer disagrees
  EXPECT_THROW(td::parse_idx(gz.data(), gz.size(), "c.gz"), tg::Error);
  gz = gzip_stored(b);
  gz.push_back(0x42);  // garbage after the member
  EXPECT_NE(message_of(gz, "c.gz").find("garbage after the gzip stream"), std::string::npos) << message_of(gz, "c.gz");
  const Bytes longer = gzip_stored(make_idx({2, 2}, 9));
  EXPECT_NE(message_of(longer, "c.gz").find("trailing bytes"), std::string::npos) << message_of(longer, "c.gz");
}

// A header's claims are checked against the bytes present before any buffer is sized from them.
TEST(DataIdx, OversizedClaimsThrowWithoutAllocating) {
  // 4 GiB claimed, 3 bytes present: over the 2 GiB cap.
  EXPECT_NE(message_of(make_idx({65536, 65536}, 3)).find("more than the 2147483648-byte limit"), std::string::npos);
  // Product overflows 64 bits.
  EXPECT_NE(message_of(make_idx({0xffffffffu, 0xffffffffu, 0xffffffffu}, 0)).find("overflow 64 bits"),
            std::string::npos);
  // 1.9 GiB claimed inside gzip, 100 bytes delivered: must not allocate the claim.
  const Bytes gz = gzip_stored(make_idx({1900, 1000, 1000}, 100));
  EXPECT_NE(message_of(gz, "big.gz").find("data truncated: expected 1900000000 bytes, file has 100"), std::string::npos)
      << message_of(gz, "big.gz");
  // A zero size makes an empty (valid) array, even next to huge sizes.
  const Bytes zero = make_idx({0, 0xffffffffu}, 0);
  EXPECT_TRUE(td::parse_idx(zero.data(), zero.size(), "z").data.empty());
}

TEST(DataMnist, LoadsASmallDirectoryPlainAndGzip) {
  TempDir dir;
  Bytes images = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2};
  for (int i = 0; i < 12; ++i) images.push_back(static_cast<uint8_t>(i == 0 ? 255 : i));
  const Bytes labels = {0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9};
  dir.write("train-images-idx3-ubyte.gz", gzip_stored(images));
  dir.write("train-labels-idx1-ubyte", labels);
  const td::Dataset ds = td::load_mnist(dir.path.string(), td::Split::train);
  EXPECT_EQ(ds.size(), 3);
  EXPECT_EQ(ds.features(), 4);
  EXPECT_EQ(ds.rows, 2);
  EXPECT_EQ(ds.cols, 2);
  EXPECT_EQ(ds.images.shape(), (tg::Shape{3, 4}));
  EXPECT_EQ(ds.images.dtype(), tg::Dtype::f32);
  EXPECT_FLOAT_EQ(ds.images.at({0, 0}), 1.0f);
  EXPECT_FLOAT_EQ(ds.images.at({2, 3}), 11.0f / 255.0f);
  EXPECT_EQ(ds.labels, (std::vector<int64_t>{7, 0, 9}));
  try {
    td::load_mnist(dir.path.string(), td::Split::test);
    ADD_FAILURE() << "missing t10k files accepted";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("neither t10k-images-idx3-ubyte nor t10k-images-idx3-ubyte.gz"),
              std::string::npos)
        << e.what();
  }
}

TEST(DataMnist, ImageAndLabelCountsMustAgree) {
  TempDir dir;
  dir.write("t10k-images-idx3-ubyte", make_idx({3, 2, 2}));
  dir.write("t10k-labels-idx1-ubyte", make_idx({4}));
  try {
    td::load_mnist(dir.path.string(), td::Split::test);
    ADD_FAILURE() << "count mismatch accepted";
  } catch (const tg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("3 images but 4 labels"), std::string::npos) << e.what();
  }
  dir.write("t10k-labels-idx1-ubyte", make_idx({3, 1}));
  EXPECT_THROW(td::load_mnist(dir.path.string(), td::Split::test), tg::Error);
}

TEST(DataMnist, RealFashionMnistWhenInstalled) {
  if (!fs::exists(fs::path(td::kFashionMnistDir) / "train-labels-idx1-ubyte.gz") &&
      !fs::exists(fs::path(td::kFashionMnistDir) / "train-labels-idx1-ubyte"))
    GTEST_SKIP() << "Fashion-MNIST not installed at " << td::kFashionMnistDir << " (apt install dataset-fashion-mnist)";
  for (const auto& [split, n] : {std::pair{td::Split::train, 60000}, std::pair{td::Split::test, 10000}}) {
    const td::Dataset ds = td::load_mnist(td::kFashionMnistDir, split);
    EXPECT_EQ(ds.size(), n);
    EXPECT_EQ(ds.images.shape(), (tg::Shape{n, 784}));
    EXPECT_EQ(ds.rows, 28);
    EXPECT_EQ(ds.cols, 28);
    std::vector<int64_t> counts(10, 0);
    for (int64_t y : ds.labels) {
      ASSERT_GE(y, 0);
      ASSERT_LE(y, 9);
      ++counts[static_cast<size_t>(y)];
    }
    for (int64_t c : counts) EXPECT_EQ(c, n / 10);  // Fashion-MNIST is balanced
    const float* p = ds.images.data<float>();
    const auto [lo, hi] = std::minmax_element(p, p + ds.images.numel());
    EXPECT_EQ(*lo, 0.0f);
    EXPECT_EQ(*hi, 1.0f);
  }
}

// A directory opens with fopen, and its "size" is nonsense (9.2e18 bytes): it is named for
// what it is instead.
TEST(DataIdx, ADirectoryIsNotAFileOfAbsurdSize) {
  const fs::path dir = fs::temp_directory_path();
  try {
    td::read_idx(dir.string());
    FAIL() << "read_idx read a directory";
  } catch (const tg::Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("not a regular file (a directory)"), std::string::npos) << m;
    EXPECT_EQ(m.find("bytes"), std::string::npos) << m;
  }
}
