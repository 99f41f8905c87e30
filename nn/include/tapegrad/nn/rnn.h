#pragma once
/// \file rnn.h
/// Recurrent layers with PyTorch's semantics, names and shapes: RNN (tanh or relu), LSTM and GRU,
/// their one-step cells, and padded batches of variable lengths (pack_padded_sequence).
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "tapegrad/core/dtype.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/nn/dropout.h"
#include "tapegrad/nn/module.h"

namespace tapegrad::nn {

/// Settings of RNN, LSTM and GRU, in PyTorch's order, then the dtype and generator as
/// LinearOptions has them: `LSTM(28, 128, {.num_layers = 2, .batch_first = true})`.
struct RNNOptions {
  int64_t num_layers = 1;              ///< stacked layers; layer k > 0 reads layer k - 1's outputs
  std::string nonlinearity = "tanh";   ///< RNN only: "tanh" or "relu"
  bool bias = true;                    ///< the biases b_ih and b_hh
  bool batch_first = false;            ///< inputs and outputs are [N, T, F] instead of [T, N, F]
  double dropout = 0.0;                ///< dropout on each layer's outputs but the last's, in training mode
  bool bidirectional = false;          ///< a second pass from the last step back, its outputs concatenated
  Dtype dtype = Dtype::f32;            ///< element type of the parameters
  Generator* generator = nullptr;      ///< source of the initial values (and dropout masks); nullptr: default_generator()
};
/// LSTM's settings (RNNOptions without a nonlinearity).
using LSTMOptions = RNNOptions;
/// GRU's settings (RNNOptions without a nonlinearity).
using GRUOptions = RNNOptions;

/// Settings of the cells.
struct RNNCellOptions {
  bool bias = true;                    ///< the biases b_ih and b_hh
  std::string nonlinearity = "tanh";   ///< RNNCell only: "tanh" or "relu"
  Dtype dtype = Dtype::f32;            ///< element type of the parameters
  Generator* generator = nullptr;      ///< source of the initial values; nullptr: default_generator()
};

/// An LSTM's state: the hidden state h and the cell state c. For the layers, each is
/// [num_layers * directions, N, H]; for LSTMCell, [N, H]. Undefined tensors mean zeros.
struct LSTMState {
  Tensor h;  ///< hidden state
  Tensor c;  ///< cell state
};

/// A padded batch with the length of each sequence, as torch.nn.utils.rnn.pack_padded_sequence
/// makes it: a recurrent layer given one runs each sequence for its own length only. Its outputs
/// past a sequence's end are zero, and its final state is the state at the last real step. (The
/// data stay padded, time-major, rather than packed by time step.)
struct PackedSequence {
  Tensor data;                   ///< [T, N, F], time-major; steps past a sequence's length are ignored
  std::vector<int64_t> lengths;  ///< per sequence, in the batch's order (sorting is not required)
};

/// `input` ([T, N, F], or [N, T, F] with batch_first) with per-sequence `lengths` (int64, [N],
/// each in [1, T]). Throws tg::Error naming the sequence whose length is out of range.
PackedSequence pack_padded_sequence(const Tensor& input, const Tensor& lengths, bool batch_first = false);
/// The padded tensor of a PackedSequence ([T, N, F], or [N, T, F] with batch_first), zero past
/// each sequence's length.
Tensor pad_packed_sequence(const PackedSequence& sequence, bool batch_first = false);

/// What RNN, LSTM and GRU share: the parameters of every layer and direction, with PyTorch's
/// names and shapes (weight_ih_l0 [G * H, in], weight_hh_l0 [G * H, H], bias_ih_l0 and
/// bias_hh_l0 [G * H], "_reverse" for the second direction; G = 1, 4, 3 for RNN, LSTM, GRU,
/// gates in PyTorch's order), initialised from U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's.
class RecurrentBase : public Module {
 public:
  /// The output sequence alone (for Sequential): [T, N, D * H] (or [N, T, D * H]).
  Tensor forward(const Tensor& x) override;
  /// "LSTM(4, 8, num_layers=2, batch_first=true)".
  std::string str() const override;
  /// The input's shape with the feature dimension replaced by D * H.
  Shape output_shape(const Shape& input) const override;
  /// In PyTorch's order: for each layer and direction, weight_ih, weight_hh, bias_ih, bias_hh.
  NamedTensors own_parameters() const override;

  /// Features of each input step.
  int64_t input_size() const { return input_size_; }
  /// Features of the hidden state.
  int64_t hidden_size() const { return hidden_size_; }
  /// The options the layer was built with.
  const RNNOptions& options() const { return options_; }

 protected:
  /// The layer's step: RNN's with tanh or relu, LSTM's or GRU's.
  enum class Kind { rnn_tanh, rnn_relu, lstm, gru };
  /// Makes the parameters of every layer and direction (for RNN, LSTM and GRU).
  RecurrentBase(Kind kind, int64_t input_size, int64_t hidden_size, RNNOptions options);
  /// What run() returns: the output sequence and the final h (and c, for an LSTM).
  struct Result {
    Tensor output;  ///< [T, N, D * H] or [N, T, D * H]
    Tensor h;       ///< [layers * D, N, H]
    Tensor c;       ///< [layers * D, N, H]; undefined but for an LSTM
  };
  /// Runs every layer and direction over `x` ([T, N, F] or [N, T, F]; [T, F] unbatched) from
  /// `h0` (and `c0` for an LSTM; undefined: zeros). `lengths`: null, or one per sequence;
  /// `time_major_in`: x is [T, N, F] whatever batch_first says (a PackedSequence's data).
  Result run(const Tensor& x, const Tensor& h0, const Tensor& c0, const std::vector<int64_t>* lengths,
             bool time_major_in) const;
  /// The layer's step.
  Kind kind_;

 private:
  int64_t input_size_, hidden_size_, gates_;
  RNNOptions options_;
  std::vector<std::pair<std::string, Tensor>> params_;  // in own_parameters() order
  mutable Dropout dropout_;
};

/// Elman RNN: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).
class RNN : public RecurrentBase {
 public:
  /// From `input_size` features per step to `hidden_size`.
  RNN(int64_t input_size, int64_t hidden_size, RNNOptions options = {});
  /// The outputs [T, N, D * H] (or [N, T, D * H]) and the final h [layers * D, N, H], from `h0`
  /// (undefined: zeros).
  std::tuple<Tensor, Tensor> operator()(const Tensor& x, const Tensor& h0 = {});
  /// The same over a batch of variable lengths.
  std::tuple<PackedSequence, Tensor> operator()(const PackedSequence& x, const Tensor& h0 = {});
  /// "RNN".
  std::string name() const override { return "RNN"; }
};

/// LSTM with PyTorch's gates i, f, g, o: c' = f * c + i * g, h' = o * tanh(c').
class LSTM : public RecurrentBase {
 public:
  /// From `input_size` features per step to `hidden_size`.
  LSTM(int64_t input_size, int64_t hidden_size, LSTMOptions options = {});
  /// The outputs [T, N, D * H] (or [N, T, D * H]) and the final state (h and c, each
  /// [layers * D, N, H]), from `state` (undefined tensors: zeros).
  std::tuple<Tensor, LSTMState> operator()(const Tensor& x, const LSTMState& state = {});
  /// The same over a batch of variable lengths.
  std::tuple<PackedSequence, LSTMState> operator()(const PackedSequence& x, const LSTMState& state = {});
  /// "LSTM".
  std::string name() const override { return "LSTM"; }
};

/// GRU with PyTorch's gates r, z, n: n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)),
/// h' = (1 - z) * n + z * h.
class GRU : public RecurrentBase {
 public:
  /// From `input_size` features per step to `hidden_size`.
  GRU(int64_t input_size, int64_t hidden_size, GRUOptions options = {});
  /// The outputs and the final h, as RNN's.
  std::tuple<Tensor, Tensor> operator()(const Tensor& x, const Tensor& h0 = {});
  /// The same over a batch of variable lengths.
  std::tuple<PackedSequence, Tensor> operator()(const PackedSequence& x, const Tensor& h0 = {});
  /// "GRU".
  std::string name() const override { return "GRU"; }
};

/// One step of a recurrent layer, with the layer's parameter names (weight_ih [G * H, in],
/// weight_hh, bias_ih, bias_hh) and formulas.
class RecurrentCellBase : public Module {
 public:
  /// "LSTMCell(4, 8)".
  std::string str() const override;
  /// [N, H] for an input [N, in].
  Shape output_shape(const Shape& input) const override;
  /// weight_ih, weight_hh, bias_ih, bias_hh.
  NamedTensors own_parameters() const override;
  /// Features of the input.
  int64_t input_size() const { return input_size_; }
  /// Features of the hidden state.
  int64_t hidden_size() const { return hidden_size_; }

 protected:
  /// Makes the parameters of a cell named `kind` ("LSTMCell") with `gates` gates.
  RecurrentCellBase(const char* kind, int gates, int64_t input_size, int64_t hidden_size, const RNNCellOptions& options);
  /// The gates' pre-activations from the input: x W_ih^T + b_ih.
  Tensor input_part(const Tensor& x) const;
  /// The gates' pre-activations from the state: h W_hh^T + b_hh.
  Tensor hidden_part(const Tensor& h) const;
  /// `s`, or zeros [N, H] when undefined; throws tg::Error naming `what` unless it is [N, H] of x's dtype.
  Tensor state_or_zeros(const Tensor& s, const Tensor& x, const char* what) const;
  /// Throws tg::Error naming the cell unless x is [N, input_size] of the parameters' dtype.
  void check_input(const Tensor& x) const;
  /// The cell's name, "LSTMCell".
  std::string kind_;
  /// RNNCell with nonlinearity "relu".
  bool relu_ = false;

 private:
  int64_t input_size_, hidden_size_;
  Tensor weight_ih_, weight_hh_, bias_ih_, bias_hh_;
};

/// One RNN step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu).
class RNNCell : public RecurrentCellBase {
 public:
  /// From `input_size` features to `hidden_size`.
  RNNCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options = {});
  /// h' from x [N, in] and h [N, H] (undefined: zeros).
  Tensor operator()(const Tensor& x, const Tensor& h = {});
  /// h' from zeros.
  Tensor forward(const Tensor& x) override { return (*this)(x); }
  /// "RNNCell".
  std::string name() const override { return "RNNCell"; }
};

/// One LSTM step.
class LSTMCell : public RecurrentCellBase {
 public:
  /// From `input_size` features to `hidden_size`.
  LSTMCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options = {});
  /// (h', c') from x [N, in] and the state (undefined tensors: zeros).
  LSTMState operator()(const Tensor& x, const LSTMState& state = {});
  /// h' from zeros.
  Tensor forward(const Tensor& x) override { return (*this)(x).h; }
  /// "LSTMCell".
  std::string name() const override { return "LSTMCell"; }
};

/// One GRU step.
class GRUCell : public RecurrentCellBase {
 public:
  /// From `input_size` features to `hidden_size`.
  GRUCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options = {});
  /// h' from x [N, in] and h [N, H] (undefined: zeros).
  Tensor operator()(const Tensor& x, const Tensor& h = {});
  /// h' from zeros.
  Tensor forward(const Tensor& x) override { return (*this)(x); }
  /// "GRUCell".
  std::string name() const override { return "GRUCell"; }
};

}  // namespace tapegrad::nn
