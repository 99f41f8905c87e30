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

Checkpoint load_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors_with_metadata(path);
  Checkpoint ck;
  ck.metadata = std::move(file.metadata);
  for (auto& [name, t] : file.tensors) {
    if (name.rfind("model.", 0) == 0) ck.model.emplace_back(name.substr(6), std::move(t));
    else if (name.rfind("optim.", 0) == 0) ck.optimizer.emplace_back(name.substr(6), std::move(t));
    else throw Error("load_checkpoint: " + path + ": tensor '" + name + "' has neither a 'model.' nor an 'optim.' prefix");
  }
  return ck;
}

}  // namespace tapegrad::io
