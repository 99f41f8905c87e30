// Checkpoints: a model's and an optimizer's state in one safetensors file, told apart by prefix.
#include "tapegrad/io/checkpoint.h"

#include "tapegrad/core/error.h"

namespace tapegrad::io {

void save_checkpoint(const std::string& path, const NamedTensors& model_state, const NamedTensors& optimizer_state,
                     const Metadata& metadata) {
  NamedTensors all;
  all.reserve(model_state.size() + optimizer_state.size());
  for (const auto& [name, t] : model_state) all.emplace_back("model." + name, t);
  for (const auto& [name, t] : optimizer_state) all.emplace_back("optim." + name, t);
  save_safetensors(path, all, metadata);
}

namespace {

Checkpoint split(SafetensorsFile file, const char* op, const std::string& name) {
  Checkpoint ck;
  ck.metadata = std::move(file.metadata);
  for (auto& [tensor, t] : file.tensors) {
    if (tensor.rfind("model.", 0) == 0) ck.model.emplace_back(tensor.substr(6), std::move(t));
    else if (tensor.rfind("optim.", 0) == 0) ck.optimizer.emplace_back(tensor.substr(6), std::move(t));
    else throw Error(std::string(op) + ": " + name + ": tensor '" + tensor + "' has neither a 'model.' nor an 'optim.' prefix");
  }
  return ck;
}

}  // namespace

Checkpoint load_checkpoint(const std::string& path) { return split(load_safetensors_with_metadata(path), "load_checkpoint", path); }

Checkpoint parse_checkpoint(const uint8_t* bytes, size_t size, const std::string& name) {
  return split(parse_safetensors(bytes, size, name), "parse_checkpoint", name);
}

}  // namespace tapegrad::io
