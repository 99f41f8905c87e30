// The error messages of the public functions outside the op registry (whose ops are swept by
// Errors.EveryOpNamesItselfAndWhatItGot): layers, initialisers, optimizers, schedulers, the data
// loader, files and the tensor handle. Each bad call must throw a tg::Error that starts with the
// function or class at fault and names the argument, what was expected and what came.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <tapegrad/tapegrad.h>

#include "message_of.h"
#include <vector>

namespace tg = tapegrad;
namespace nn = tapegrad::nn;
namespace optim = tapegrad::optim;

namespace {

struct Case {
  const char* what;
  std::function<void()> call;
  std::string starts_with;          // the function or class at fault
  std::vector<std::string> names;   // the argument, the expected and the actual value
};


}  // namespace

TEST(ApiErrors, EveryBadCallNamesTheFunctionTheArgumentAndBothValues) {
  tg::Tensor p = tg::zeros({2}).requires_grad(true);
  const std::string dir = ::testing::TempDir();
  const std::vector<Case> cases{
      // layers and initialisers
      {"Linear(0, 2)", [] { nn::Linear(0, 2); }, "Linear", {"in=0", "positive"}},
      {"Linear on [4, 5]", [] { nn::Linear l(3, 2); l(tg::zeros({4, 5})); }, "Linear", {"[4, 5]", "must be 3"}},
      {"Linear on float64", [] { nn::Linear l(3, 2); l(tg::zeros({4, 3}, tg::Dtype::f64)); }, "Linear",
       {"float64", "float32"}},
      {"Dropout(1.5)", [] { nn::Dropout(1.5); }, "Dropout", {"p", "[0, 1]", "1.5"}},
      {"Sequential[3]", [] { nn::Sequential s(nn::Linear(2, 2)); s[3]; }, "Sequential", {"index 3", "below 1"}},
      {"Sequential::get<Linear>(ReLU)", [] { nn::Sequential s(nn::Linear(2, 2), nn::ReLU()); s.get<nn::Linear>(1); },
       "Sequential::get", {"module 1", "ReLU"}},
      {"load_state_dict with a wrong shape",
       [] {
         nn::Linear l(3, 2);
         auto sd = l.state_dict();
         sd[0].second = tg::zeros({5});
         l.load_state_dict(sd);
       },
       "load_state_dict", {"'weight'", "[5]", "[3, 2]"}},
      {"xavier_uniform of a vector", [] { nn::init::xavier_uniform(tg::zeros({7})); }, "init::", {"rank 2", "[7]"}},
      // optimizers and schedulers
      {"SGD()", [] { optim::SGD({}, {.lr = 0.1}); }, "SGD", {"empty parameter list"}},
      {"SGD lr -0.1", [&] { optim::SGD({p}, {.lr = -0.1}); }, "SGD", {"learning rate", ">= 0", "-0.1"}},
      {"SGD momentum -0.5", [&] { optim::SGD({p}, {.lr = 0.1, .momentum = -0.5}); }, "SGD", {"momentum", ">= 0", "-0.5"}},
      {"SGD of a non-leaf", [&] { optim::SGD({p * 2.0}, {.lr = 0.1}); }, "SGD", {"parameter 0", "leaf"}},
      {"Adam beta1 1", [&] { optim::Adam({p}, {.betas = {1.0, 0.999}}); }, "Adam", {"beta1", "[0, 1)", "got 1"}},
      {"Adam eps -1e-8", [&] { optim::Adam({p}, {.eps = -1e-8}); }, "Adam", {"eps", ">= 0", "-1e-08"}},
      {"AdamW weight_decay -1", [&] { optim::AdamW({p}, {.weight_decay = -1.0}); }, "AdamW",
       {"weight_decay", ">= 0", "-1"}},
      {"Adagrad lr_decay -1", [&] { optim::Adagrad({p}, {.lr_decay = -1.0}); }, "Adagrad", {"lr_decay", ">= 0", "-1"}},
      {"RMSprop alpha -0.5", [&] { optim::RMSprop({p}, {.alpha = -0.5}); }, "RMSprop", {"alpha", ">= 0", "-0.5"}},
      {"clip_grad_norm max_norm -1", [&] { optim::clip_grad_norm({p}, -1.0); }, "clip_grad_norm",
       {"max_norm", ">= 0", "-1"}},
      {"StepLR step_size 0", [&] { optim::SGD o({p}, {.lr = 0.1}); optim::StepLR(o, 0); }, "StepLR",
       {"step_size", ">= 1", "got 0"}},
      {"optimizer state with lr -1",
       [&] {
         optim::SGD o({p}, {.lr = 0.1});
         o.load_state_dict({{"lr", tg::tensor(-1.0)}, {"0.step", tg::tensor(0.0)}});
       },
       "SGD.load_state_dict", {"\"lr\"", "-1", ">= 0"}},
      // data
      {"DataLoader batch_size 0",
       [] {
         tg::data::Dataset d{tg::zeros({3, 2}), {0, 1, 2}};
         tg::data::DataLoader(d, 0);
       },
       "DataLoader", {"batch_size", "at least 1", "got 0"}},
      {"DataLoader with 2 labels for 3 rows",
       [] {
         tg::data::Dataset d{tg::zeros({3, 2}), {0, 1}};
         tg::data::DataLoader(d, 2);
       },
       "DataLoader", {"3 rows", "2 labels"}},
      {"DataLoader::batch(5) of 2",
       [] {
         tg::data::Dataset d{tg::zeros({3, 2}), {0, 1, 2}};
         tg::data::DataLoader(d, 2).batch(5);
       },
       "DataLoader::batch", {"index 5", "2 batches"}},
      {"load_mnist of a missing directory", [] { tg::data::load_mnist("/nonexistent", tg::data::Split::train); },
       "load_mnist", {"/nonexistent", "train-images-idx3-ubyte"}},
      // files
      {"load_safetensors of a missing file", [] { tg::io::load_safetensors("/nonexistent/x.st"); }, "safetensors",
       {"/nonexistent/x.st", "No such file"}},
      {"save_safetensors with a name twice",
       [&] { tg::io::save_safetensors(dir + "/twice.st", {{"a", tg::zeros({1})}, {"a", tg::zeros({1})}}); },
       "save_safetensors", {"'a'", "twice"}},
      {"save_safetensors into a missing directory",
       [] { tg::io::save_safetensors("/nonexistent/dir/x.st", {{"a", tg::zeros({1})}}); }, "save_safetensors",
       {"/nonexistent/dir/x.st"}},
      // the tensor handle
      {"from_vector of 3 values into [2, 2]", [] { tg::from_vector(std::vector<double>{1, 2, 3}, {2, 2}); },
       "from_vector", {"3 values", "[2, 2]", "4 elements"}},
      {"full with a negative size", [] { tg::full({-1, 2}, 1.0); }, "full", {"-1", "[-1, 2]"}},
      {"copy_ from [3] into [2]", [] { tg::zeros({2}).copy_(tg::zeros({3})); }, "copy_", {"[2]", "[3]"}},
      {"add_ of [3] to [2]", [] { tg::zeros({2}).add_(tg::zeros({3})); }, "add_", {"[2]", "[3]"}},
      {"set_grad of float64 on float32", [&] { p.set_grad(tg::zeros({2}, tg::Dtype::f64)); }, "set_grad",
       {"float64", "float32"}},
      {"backward with an upstream of [3]", [&] { (p * 2.0).backward(tg::zeros({3})); }, "backward", {"[3]", "[2]"}},
      {"data<double> of float32", [] { tg::zeros({2}).data<double>(); }, "data", {"float32", "float64"}},
      {"item of an undefined tensor", [] { tg::Tensor().item(); }, "item", {"undefined"}},
      {"at({5}) of [2]", [] { tg::zeros({2}).at({5}); }, "at", {"[5]", "[2]"}},
      {"set_num_threads(-1)", [] { tg::set_num_threads(-1); }, "set_num_threads", {"at least 1", "-1"}},
      {"gradcheck skipping input 3 of 1",
       [] {
         tg::gradcheck([](const std::vector<tg::Tensor>& in) { return tg::sum(in[0]); }, {tg::zeros({2}, tg::Dtype::f64)},
                       {.skip_inputs = {3}});
       },
       "gradcheck", {"skip_inputs", "input 3", "1 input"}},
      {"a Function whose backward returns a [3] gradient for a [2] input",
       [] {
         tg::Function f(
             "twice", [](const std::vector<tg::Tensor>& in) { return in[0] * 2.0; },
             [](const tg::FunctionContext&) { return std::vector<tg::Tensor>{tg::zeros({3})}; });
         tg::Tensor a = tg::zeros({2}).requires_grad(true);
         tg::sum(f({a})).backward();
       },
       "twice", {"[3]", "input 0", "[2]"}},
  };
  for (const Case& c : cases) {
    const std::string msg = message_of(c.call);
    EXPECT_EQ(msg.rfind(c.starts_with, 0), 0u) << c.what << ": expected a message starting with '" << c.starts_with
                                              << "', got: " << msg;
    for (const std::string& n : c.names)
      EXPECT_NE(msg.find(n), std::string::npos) << c.what << ": '" << n << "' missing from: " << msg;
  }
}
