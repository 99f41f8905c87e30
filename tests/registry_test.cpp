// Every registered op is gradient-checked, whole and node by node, and every public op is registered.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <tapegrad/autograd/testing.h>
#include <tapegrad/tapegrad.h>

namespace tg = tapegrad;

// The checks every registered op gets (tg::check_op: gradcheck whole and per node in float64,
// float32 backprop against float64, non-differentiable entries record nothing).
TEST(Registry, EveryOpPassesItsChecks) {
  int checked = 0;
  for (const tg::OpEntry& e : tg::op_registry())
    for (const tg::OpCheck& c : tg::check_op(e)) {
      EXPECT_TRUE(c.ok) << c.label << "\n" << c.detail;
      ++checked;
    }
  EXPECT_GT(checked, 80);
}

// check_op cannot pass vacuously: an entry without samples is an error, and a function that
// records no node fails its gradcheck.
TEST(Registry, CheckOpRefusesToCheckNothing) {
  tg::OpEntry none{.name = "nothing",
                   .fn = [](const std::vector<tg::Tensor>& in) { return in[0]; },
                   .samples = [](tg::Dtype, tg::Generator&) { return std::vector<tg::OpSample>{}; }};
  EXPECT_THROW(tg::check_op(none), tg::Error);
  tg::OpEntry identity{.name = "identity",
                       .fn = [](const std::vector<tg::Tensor>& in) { return in[0]; },
                       .samples = [](tg::Dtype d, tg::Generator& g) {
                         return std::vector<tg::OpSample>{{{tg::samples::normal({3}, d, g)}, "vector"}};
                       }};
  std::vector<tg::OpCheck> checks = tg::check_op(identity);
  ASSERT_FALSE(checks.empty());
  EXPECT_FALSE(checks[0].ok) << checks[0].detail;
}

// Every function declared in the public ops header has at least one registry entry.
TEST(Registry, EveryPublicOpIsRegistered) {
  std::ifstream in(std::string(TAPEGRAD_SOURCE_DIR) + "/autograd/include/tapegrad/autograd/ops.h");
  ASSERT_TRUE(in) << "cannot read ops.h";
  std::stringstream text;
  text << in.rdbuf();
  std::string src = text.str();
  std::regex decl(R"(\nTensor ([a-z_0-9]+)\()");
  std::set<std::string> declared;
  for (auto it = std::sregex_iterator(src.begin(), src.end(), decl); it != std::sregex_iterator(); ++it)
    declared.insert((*it)[1]);
  std::set<std::string> registered;
  for (const tg::OpEntry& e : tg::op_registry()) registered.insert(e.name);
  EXPECT_GT(declared.size(), 30u);
  for (const std::string& name : declared) EXPECT_TRUE(registered.count(name)) << name << " is declared in ops.h but not registered";
}

// A hand-written registry entry names its fields (.name, .variant, .fn, .samples, .differentiable,
// ...) rather than filling numbered slots, where a bare `false` or `{0}` says nothing and a field
// added to OpEntry would shift the rest. Primitive ops have no hand-written entry: their samples
// are in their OpSpec.
TEST(Registry, HandWrittenEntriesNameTheirFields) {
  namespace fs = std::filesystem;
  // An opening brace followed by anything but a designator (or the brace's end); `struct OpEntry {`
  // matches too, and is skipped below.
  const std::regex positional(R"((RegisterOp\s+\w+\s*\(|register_op\s*\(\s*(OpEntry\s*)?|(struct\s+)?OpEntry\s*\w*\s*)\{\s*[^.\s}])");
  int files = 0;
  for (const char* dir : {"autograd", "nn", "optim", "data", "io", "tests", "examples", "docs/snippets"}) {
    const fs::path root = fs::path(TAPEGRAD_SOURCE_DIR) / dir;
    if (!fs::exists(root)) continue;
    for (const fs::directory_entry& f : fs::recursive_directory_iterator(root)) {
      const std::string ext = f.path().extension().string();
      if (!f.is_regular_file() || (ext != ".cpp" && ext != ".h")) continue;
      std::ifstream in(f.path());
      std::stringstream text;
      text << in.rdbuf();
      const std::string src = text.str();
      ++files;
      if (src.find("OpEntry") == std::string::npos && src.find("RegisterOp") == std::string::npos &&
          src.find("register_op") == std::string::npos)
        continue;  // std::regex is slow; most files name no registry entry at all
      for (auto it = std::sregex_iterator(src.begin(), src.end(), positional); it != std::sregex_iterator(); ++it) {
        if (it->str().rfind("struct", 0) == 0) continue;
        const size_t line = static_cast<size_t>(std::count(src.begin(), src.begin() + it->position(), '\n')) + 1;
        ADD_FAILURE() << f.path().string() << ":" << line << ": a registry entry with positional fields: " << it->str();
      }
    }
  }
  EXPECT_GT(files, 50);
}

// docs/api.md's table of ops names every op declared in ops.h, beside its PyTorch name.
TEST(Registry, EveryOpIsInTheApiTable) {
  auto read = [](const std::string& path) {
    std::ifstream in(std::string(TAPEGRAD_SOURCE_DIR) + path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const std::string header = read("/autograd/include/tapegrad/autograd/ops.h"), api = read("/docs/api.md");
  const size_t begin = api.find("## The ops, by PyTorch name");
  ASSERT_NE(begin, std::string::npos) << "docs/api.md has no table of ops";
  std::set<std::string> listed;
  std::istringstream rows(api.substr(begin, api.find("\n## ", begin + 1) - begin));
  for (std::string row; std::getline(rows, row);) {
    if (row.rfind("| ", 0) != 0) continue;
    const std::string first = row.substr(2, row.find(" |", 2) - 2);  // "add, sub, mul, div"
    std::regex word("[a-z_0-9]+");
    for (auto it = std::sregex_iterator(first.begin(), first.end(), word); it != std::sregex_iterator(); ++it)
      listed.insert(it->str());
  }
  std::regex decl(R"(\nTensor ([a-z_0-9]+)\()");
  int declared = 0;
  for (auto it = std::sregex_iterator(header.begin(), header.end(), decl); it != std::sregex_iterator(); ++it, ++declared)
    EXPECT_TRUE(listed.count((*it)[1])) << (*it)[1] << " is declared in ops.h but missing from docs/api.md's table of ops";
  EXPECT_GT(declared, 60);
}

// Every value a node keeps for its backward is version-checked: for every differentiable op,
// an in-place write to any of its variable inputs, or to its output, after the forward makes
// backward() throw, naming the op that recorded the value and the writer. Data inputs (labels)
// are copied by the node when it is recorded, so a later write cannot change the gradient, and
// an out-of-range value written there cannot reach the backward.
TEST(Registry, EveryValueANodeKeepsIsVersionChecked) {
  tg::Generator gen(7);
  int writes = 0;
  for (const tg::OpEntry& e : tg::op_registry()) {
    if (!e.differentiable) continue;
    const std::vector<tg::OpSample> samples = e.samples(tg::Dtype::f64, gen);
    ASSERT_FALSE(samples.empty()) << e.name;
    const tg::OpSample& s = samples.front();
    auto is_data = [&](size_t i) {
      return std::find(e.nondiff_inputs.begin(), e.nondiff_inputs.end(), i) != e.nondiff_inputs.end();
    };
    // target == inputs.size() writes to the output.
    for (size_t target = 0; target <= s.inputs.size(); ++target) {
      std::vector<tg::Tensor> in;
      for (size_t i = 0; i < s.inputs.size(); ++i) in.push_back(s.inputs[i].clone().requires_grad(!is_data(i)));
      tg::Tensor y = e.fn(in);
      ASSERT_TRUE(y.requires_grad()) << e.name;
      const tg::Tensor upstream = tg::ones(y.shape(), y.dtype());
      const std::string what = e.name + " [" + e.variant + "] " +
                               (target < in.size() ? "input " + std::to_string(target) : std::string("output"));
      if (target < in.size() && is_data(target)) {
        y.backward(upstream, {.retain_graph = true});
        std::vector<std::vector<double>> before;
        for (const tg::Tensor& t : in)
          if (t.requires_grad()) before.push_back(t.grad().to_vector<double>());
        in[target].fill_(1e9);  // out of range as a class index, and not a probability
        y.backward(upstream);
        size_t k = 0;
        for (const tg::Tensor& t : in) {
          if (!t.requires_grad()) continue;
          std::vector<double> twice = before[k++];
          for (double& v : twice) v *= 2;
          EXPECT_EQ(t.grad().to_vector<double>(), twice) << what << ": a data input written after the forward changed the gradient";
        }
        ++writes;
        continue;
      }
      {
        tg::NoGradGuard no_grad;
        (target < in.size() ? in[target] : y).mul_(1.0);  // same values, new version
      }
      try {
        y.backward(upstream);
        ADD_FAILURE() << what << " written in place after the forward: backward() did not throw";
      } catch (const tg::Error& err) {
        const std::string msg = err.what();
        EXPECT_NE(msg.find("modified in place by mul_"), std::string::npos) << what << ": " << msg;
      }
      ++writes;
    }
  }
  EXPECT_GT(writes, 80);
}
