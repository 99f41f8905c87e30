#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.h>

#include "test_dir.h"

#include "message_of.h"

namespace tg = tapegrad;
namespace tio = tapegrad::io;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<uint8_t>;

// Each test's own directory under the system's temporary directory.
struct TempDir : tapegrad_test::TestDir {
  TempDir() : TestDir("tapegrad_torch_") {}
};
using tapegrad_test::read_bytes;

// A safetensors file as PyTorch's reader sees it, parsed here by hand (load_safetensors reads
// only F32 and F64): the JSON header and each tensor's raw bytes.
struct TorchFile {
  nlohmann::json header;
  Bytes bytes;
  uint64_t data_start = 0;

  explicit TorchFile(const std::string& path) : bytes(read_bytes(path)) {
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(n));
    data_start = 8 + n;
  }
  std::vector<int64_t> shape(const std::string& name) const { return header.at(name).at("shape"); }
  std::string dtype(const std::string& name) const { return header.at(name).at("dtype"); }
  template <class T>
  std::vector<T> values(const std::string& name) const {
    const uint64_t begin = header.at(name).at("data_offsets")[0], end = header.at(name).at("data_offsets")[1];
    std::vector<T> v((end - begin) / sizeof(T));
    std::memcpy(v.data(), bytes.data() + data_start + begin, end - begin);
    return v;
  }
};

// A file written by hand from a header and data, as tests/io_safetensors_test.cpp does.
void write_image(const std::string& path, const std::string& header, const Bytes& data) {
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = header.size();
  f.write(reinterpret_cast<const char*>(&n), 8);
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::shared_ptr<tg::nn::Sequential> cnn() {
  return std::make_shared<tg::nn::Sequential>(tg::nn::Sequential{
      tg::nn::Conv2d(1, 2, 3), tg::nn::BatchNorm2d(2), tg::nn::ReLU(), tg::nn::MaxPool2d(2), tg::nn::Flatten(),
      tg::nn::Linear(2 * 3 * 3, 4), tg::nn::BatchNorm1d(4), tg::nn::Linear(4, 3)});
}

std::map<std::string, std::vector<double>> values_of(const tg::nn::Module& m) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [name, t] : m.state_dict()) out[name] = t.to_vector<double>();
  return out;
}

}  // namespace

TEST(IoTorch, RoundTripsEveryParameterAndBuffer) {
  TempDir dir;
  const std::string p = dir.file("cnn.safetensors");
  tg::nn::manual_seed(1);
  auto a = cnn();
  tg::Generator gen(2);
  for (int i = 0; i < 2; ++i) (*a)(tg::randn({4, 1, 8, 8}, gen));  // moves the running statistics
  tio::save_torch_state_dict(*a, p);
  EXPECT_EQ(dir.entries(), 1u) << "no temporary file may remain";

  tg::nn::manual_seed(3);
  auto b = cnn();
  ASSERT_NE(values_of(*a), values_of(*b));
  tio::load_torch_state_dict(*b, p);
  EXPECT_EQ(values_of(*a), values_of(*b));
  a->eval();
  b->eval();
  const tg::Tensor x = tg::randn({3, 1, 8, 8}, gen);
  EXPECT_EQ((*a)(x).to_vector<float>(), (*b)(x).to_vector<float>());
}

TEST(IoTorch, FileHasPyTorchsNamesLayoutsAndDtypes) {
  TempDir dir;
  const std::string p = dir.file("cnn.safetensors");
  auto net = cnn();
  tg::Generator gen(4);
  for (int i = 0; i < 3; ++i) (*net)(tg::randn({4, 1, 8, 8}, gen));
  tio::save_torch_state_dict(*net, p);
  const TorchFile f(p);

  // torch.nn.Sequential's state_dict() keys, module by module.
  std::vector<std::string> names;
  for (const auto& [name, entry] : f.header.items())
    if (name != "__metadata__") names.push_back(name);
  std::sort(names.begin(), names.end());
  std::vector<std::string> want{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                "1.num_batches_tracked", "5.weight", "5.bias", "6.weight", "6.bias",
                                "6.running_mean", "6.running_var", "6.num_batches_tracked", "7.weight", "7.bias"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(names, want);

  // Conv2d's weight is already [out, in, kh, kw].
  EXPECT_EQ(f.shape("0.weight"), (std::vector<int64_t>{2, 1, 3, 3}));
  EXPECT_EQ(f.values<float>("0.weight"), net->get<tg::nn::Conv2d>(0).weight().to_vector<float>());
  // Linear's [in, out] weight is written transposed, as PyTorch's [out, in].
  const tg::Tensor w = net->get<tg::nn::Linear>(5).weight();
  ASSERT_EQ(w.shape(), (tg::Shape{18, 4}));
  EXPECT_EQ(f.shape("5.weight"), (std::vector<int64_t>{4, 18}));
  EXPECT_EQ(f.values<float>("5.weight"), tg::transpose(w).to_vector<float>());
  EXPECT_EQ(f.values<float>("5.weight")[1], static_cast<float>(w.at({1, 0}))) << "row 0 of [out, in] is W's column 0";
  EXPECT_EQ(f.shape("7.weight"), (std::vector<int64_t>{3, 4}));
  // num_batches_tracked is a rank-0 int64, as torch.nn.BatchNorm2d keeps it.
  EXPECT_EQ(f.dtype("1.num_batches_tracked"), "I64");
  EXPECT_EQ(f.shape("1.num_batches_tracked"), std::vector<int64_t>{});
  EXPECT_EQ(f.values<int64_t>("1.num_batches_tracked"), std::vector<int64_t>{3});
  EXPECT_EQ(f.dtype("1.running_var"), "F32");
  EXPECT_EQ(f.values<float>("6.running_mean"), net->get<tg::nn::BatchNorm1d>(6).running_mean().to_vector<float>());
  // The header is safetensors' own, which tapegrad's reader takes whole: the I64 entry as int64.
  for (const auto& [name, t] : tio::load_safetensors(p))
    if (name == "1.num_batches_tracked") {
      EXPECT_EQ(t.to_vector<int64_t>(), std::vector<int64_t>{3});
    }
}

TEST(IoTorch, Float64ModelsAreWrittenAsF64) {
  TempDir dir;
  const std::string p = dir.file("wide.safetensors");
  tg::nn::Sequential net{tg::nn::Linear(2, 3, {.dtype = tg::Dtype::f64}),
                         tg::nn::BatchNorm1d(3, {.dtype = tg::Dtype::f64})};
  tio::save_torch_state_dict(net, p);
  const TorchFile f(p);
  EXPECT_EQ(f.dtype("0.weight"), "F64");
  EXPECT_EQ(f.dtype("1.running_var"), "F64");
  EXPECT_EQ(f.dtype("1.num_batches_tracked"), "I64");
  // Without BatchNorm the file holds only floats, and tapegrad's own reader sees the layout.
  tg::nn::Sequential mlp{tg::nn::Linear(2, 3), tg::nn::ReLU(), tg::nn::Linear(3, 1, {.bias = false})};
  tio::save_torch_state_dict(mlp, p);
  const tg::NamedTensors t = tio::load_safetensors(p);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].first, "0.weight");
  EXPECT_EQ(t[0].second.shape(), (tg::Shape{3, 2}));
  EXPECT_EQ(t[2].first, "2.weight");
  EXPECT_EQ(t[2].second.shape(), (tg::Shape{1, 3}));
}

TEST(IoTorch, NestedSequentialsHaveDottedPaths) {
  TempDir dir;
  const std::string p = dir.file("nested.safetensors");
  auto inner = std::make_shared<tg::nn::Sequential>(tg::nn::Sequential{tg::nn::ReLU(), tg::nn::Linear(3, 2)});
  tg::nn::Sequential outer;
  outer.push_back(tg::nn::Linear(4, 3)).push_back(inner);
  tio::save_torch_state_dict(outer, p);
  const TorchFile f(p);
  EXPECT_EQ(f.shape("0.weight"), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(f.shape("1.1.weight"), (std::vector<int64_t>{2, 3})) << "a Linear in a nested Sequential is transposed too";
  EXPECT_EQ(f.values<float>("1.1.weight"), tg::transpose(inner->get<tg::nn::Linear>(1).weight()).to_vector<float>());

  tg::nn::Sequential copy;
  auto copy_inner = std::make_shared<tg::nn::Sequential>(tg::nn::Sequential{tg::nn::ReLU(), tg::nn::Linear(3, 2)});
  copy.push_back(tg::nn::Linear(4, 3)).push_back(copy_inner);
  tio::load_torch_state_dict(copy, p);
  EXPECT_EQ(values_of(copy), values_of(outer));
}

TEST(IoTorch, MismatchesNameTheTensorAndBothShapesAndChangeNothing) {
  TempDir dir;
  const std::string p = dir.file("small.safetensors");
  tg::nn::Sequential saved{tg::nn::Linear(3, 2), tg::nn::Linear(2, 2)};
  tio::save_torch_state_dict(saved, p);

  // The first layer fits; the second does not: nothing is loaded.
  tg::nn::Sequential wider{tg::nn::Linear(3, 2), tg::nn::Linear(2, 5)};
  const auto before = values_of(wider);
  std::string m = message_of([&] { tio::load_torch_state_dict(wider, p); });
  EXPECT_NE(m.find("load_torch_state_dict(" + p + ")"), std::string::npos) << m;
  EXPECT_NE(m.find("tensor '1.weight' has shape [2, 2] in the file but the module's has shape [5, 2]"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("tapegrad holds it as [2, 5]"), std::string::npos) << m;
  EXPECT_EQ(values_of(wider), before);

  tg::nn::Sequential more{tg::nn::Linear(3, 2), tg::nn::Linear(2, 2), tg::nn::BatchNorm1d(2)};
  m = message_of([&] { tio::load_torch_state_dict(more, p); });
  EXPECT_NE(m.find("missing tensor '2.weight' (the module's has shape [2])"), std::string::npos) << m;

  tg::nn::Sequential fewer{tg::nn::Linear(3, 2)};
  m = message_of([&] { tio::load_torch_state_dict(fewer, p); });
  EXPECT_NE(m.find("unexpected tensor '1.weight' with shape [2, 2]"), std::string::npos) << m;
  EXPECT_NE(m.find("no parameter or buffer of that name"), std::string::npos) << m;

  tg::nn::Sequential no_bias{tg::nn::Linear(3, 2), tg::nn::Linear(2, 2, {.bias = false})};
  m = message_of([&] { tio::load_torch_state_dict(no_bias, p); });
  EXPECT_NE(m.find("unexpected tensor '1.bias'"), std::string::npos) << m;

  EXPECT_NE(message_of([&] { tio::load_torch_state_dict(saved, dir.file("absent.safetensors")); }).find("cannot open"),
            std::string::npos);
}

TEST(IoTorch, IntegersAreAcceptedOnlyForTheBatchCount) {
  TempDir dir;
  const std::string p = dir.file("hand.safetensors");
  // A BatchNorm1d(1)'s state dict written by hand, as PyTorch lays it out: weight, bias, running
  // mean and variance F32, the count I64; with `bias_is_int` the bias is I64 too.
  auto write = [&](bool bias_is_int) {
    Bytes data;
    auto put = [&](const void* v, size_t n) {
      const auto* b = static_cast<const uint8_t*>(v);
      data.insert(data.end(), b, b + n);
    };
    const float w = 2.0f, b = -1.0f, mean = 0.5f, var = 4.0f;
    const int64_t bi = -1, count = 7;
    put(&w, 4);
    size_t bias_end = 8;
    if (bias_is_int) {
      put(&bi, 8);
      bias_end = 12;
    } else {
      put(&b, 4);
    }
    put(&mean, 4);
    put(&var, 4);
    put(&count, 8);
    const std::string bias_entry = bias_is_int ? R"("bias":{"dtype":"I64","shape":[1],"data_offsets":[4,12]},)"
                                               : R"("bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)";
    const std::string h = R"({"weight":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)" + bias_entry +
                          R"("running_mean":{"dtype":"F32","shape":[1],"data_offsets":[)" +
                          std::to_string(bias_end) + "," + std::to_string(bias_end + 4) + R"(]},)" +
                          R"("running_var":{"dtype":"F32","shape":[1],"data_offsets":[)" +
                          std::to_string(bias_end + 4) + "," + std::to_string(bias_end + 8) + R"(]},)" +
                          R"("num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[)" +
                          std::to_string(bias_end + 8) + "," + std::to_string(bias_end + 16) + R"(]}})";
    write_image(p, h, data);
  };

  write(false);
  tg::nn::BatchNorm1d bn(1);
  tio::load_torch_state_dict(bn, p);
  EXPECT_EQ(bn.weight().item(), 2.0);
  EXPECT_EQ(bn.bias().item(), -1.0);
  EXPECT_EQ(bn.running_mean().item(), 0.5);
  EXPECT_EQ(bn.running_var().item(), 4.0);
  EXPECT_EQ(bn.num_batches_tracked().item(), 7.0);
  EXPECT_EQ(bn.num_batches_tracked().dtype(), tg::Dtype::f32);

  write(true);
  tg::nn::BatchNorm1d fresh(1);
  const std::string m = message_of([&] { tio::load_torch_state_dict(fresh, p); });
  EXPECT_NE(m.find("tensor 'bias' with shape [1] is I64 in the file"), std::string::npos) << m;
  EXPECT_NE(m.find("only num_batches_tracked may be an integer"), std::string::npos) << m;
  EXPECT_EQ(fresh.weight().item(), 1.0) << "nothing loaded";
}

TEST(IoTorch, SaveIsAtomicAndRejectsUndefinedTensors) {
  TempDir dir;
  const std::string p = dir.file("m.safetensors");
  tg::nn::Sequential net{tg::nn::Linear(3, 2)};
  tio::save_torch_state_dict(net, p);
  const Bytes before = read_bytes(p);
  net.get<tg::nn::Linear>(0).bias() = tg::Tensor();
  // Linear lists no bias when it has none; an undefined weight is the module's mistake.
  net.get<tg::nn::Linear>(0).weight() = tg::Tensor();
  const std::string m = message_of([&] { tio::save_torch_state_dict(net, p); });
  EXPECT_NE(m.find("save_torch_state_dict: tensor '0.weight' is undefined"), std::string::npos) << m;
  EXPECT_EQ(read_bytes(p), before) << "the previous file is intact";
  EXPECT_EQ(dir.entries(), 1u);
}

namespace {
// A module of the user's own that keeps its matrix as [in, out], like Linear, and says so: the
// file holds PyTorch's [out, in] without io/ knowing the type.
class Projection : public tg::nn::Module {
 public:
  Projection() : w_(tg::tensor({{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}}, tg::Dtype::f32).requires_grad(true)) {}
  tg::Tensor forward(const tg::Tensor& x) override { return tg::matmul(x, w_); }
  std::string name() const override { return "Projection"; }
  tg::NamedTensors own_parameters() const override { return {{"w", w_}}; }
  tg::nn::TorchLayout torch_layout(const std::string& n) const override {
    return n == "w" ? tg::nn::TorchLayout::transposed : tg::nn::TorchLayout::same;
  }

 private:
  tg::Tensor w_;
};
}  // namespace

TEST(IoTorch, AModuleOfTheUsersOwnLaysOutItsTensorsThroughTorchLayout) {
  TempDir dir;
  const std::string p = dir.file("projection.safetensors");
  tg::nn::Sequential net{Projection()};
  tio::save_torch_state_dict(net, p);
  const TorchFile f(p);
  EXPECT_EQ(f.shape("0.w"), (std::vector<int64_t>{3, 2}));
  tg::nn::Sequential copy{Projection()};
  copy.parameters()[0].detach().fill_(0.0);
  tio::load_torch_state_dict(copy, p);
  EXPECT_EQ(copy.parameters()[0].to_vector<float>(), net.parameters()[0].to_vector<float>());
}
