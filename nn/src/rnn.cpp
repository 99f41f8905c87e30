// RNN, LSTM and GRU, their cells, and padded batches of variable lengths, written with the ops:
// their gradients, double backward and compiled replay come from the ops' own.
#include "tapegrad/nn/rnn.h"

#include <cmath>

#include "tapegrad/autograd/ops.h"
#include "tapegrad/nn/init.h"

namespace tapegrad::nn {

namespace {

enum class Cell { rnn_tanh, rnn_relu, lstm, gru };

struct State {
  Tensor h, c;
};

// One step from the gates' pre-activations, gi = x W_ih^T + b_ih and gh = h W_hh^T + b_hh, in
// PyTorch's gate order and formulas.
State cell_step(Cell kind, const Tensor& gi, const Tensor& gh, const Tensor& h, const Tensor& c, int64_t H) {
  auto part = [H](const Tensor& t, int64_t k) { return slice(t, 1, k * H, (k + 1) * H); };
  switch (kind) {
    case Cell::rnn_tanh: return {tanh(gi + gh), {}};
    case Cell::rnn_relu: return {relu(gi + gh), {}};
    case Cell::lstm: {  // the gates and the update in one op, forward and backward
      const Tensor hc = lstm_cell(gi + gh, c);
      return {part(hc, 0), part(hc, 1)};
    }
    case Cell::gru: {
      const Tensor r = sigmoid(part(gi, 0) + part(gh, 0));
      const Tensor z = sigmoid(part(gi, 1) + part(gh, 1));
      const Tensor n = tanh(part(gi, 2) + r * part(gh, 2));
      return {(1.0 - z) * n + z * h, {}};
    }
  }
  return {};
}

Cell cell_of(const char* layer, bool lstm, bool gru, const std::string& nonlinearity) {
  if (lstm || gru) {
    if (nonlinearity != "tanh")
      throw Error(std::string(layer) + ": has no nonlinearity option (got \"" + nonlinearity + "\"); it is RNN's");
    return lstm ? Cell::lstm : Cell::gru;
  }
  if (nonlinearity == "tanh") return Cell::rnn_tanh;
  if (nonlinearity == "relu") return Cell::rnn_relu;
  throw Error(std::string(layer) + ": nonlinearity must be \"tanh\" or \"relu\", got \"" + nonlinearity + "\"");
}

Tensor uniform_parameter(const Shape& shape, double bound, Dtype dtype, Generator& gen) {
  Tensor t = zeros(shape, dtype);
  init::uniform(t, -bound, bound, gen);
  return t.requires_grad(true);
}

// [N, H] of 1 where step t is within the sequence's length, 0 past it.
Tensor step_mask(const std::vector<int64_t>& lengths, int64_t t, int64_t H, Dtype dtype) {
  std::vector<double> m;
  m.reserve(lengths.size() * static_cast<size_t>(H));
  for (int64_t len : lengths) m.insert(m.end(), static_cast<size_t>(H), t < len ? 1.0 : 0.0);
  return from_vector(m, {static_cast<int64_t>(lengths.size()), H}, dtype);
}

std::string shape_and_dtype(const Tensor& t) { return t.shape().str() + " " + std::string(dtype_name(t.dtype())); }

}  // namespace

// ---- packed sequences ----

PackedSequence pack_padded_sequence(const Tensor& input, const Tensor& lengths, bool batch_first) {
  if (!input.defined() || !lengths.defined()) throw Error("pack_padded_sequence: an input is undefined");
  if (input.dim() != 3)
    throw Error("pack_padded_sequence: expected a padded batch of rank 3 ([T, N, F], or [N, T, F] with batch_first), got " +
                input.shape().str());
  if (lengths.dtype() != Dtype::i64 || lengths.dim() != 1)
    throw Error("pack_padded_sequence: expected lengths as a rank-1 int64 tensor, got " + shape_and_dtype(lengths));
  Tensor data = batch_first ? permute(input, {1, 0, 2}) : input;
  const int64_t T = data.size(0), N = data.size(1);
  std::vector<int64_t> len = lengths.to_vector<int64_t>();
  if (static_cast<int64_t>(len.size()) != N)
    throw Error("pack_padded_sequence: " + std::to_string(len.size()) + " lengths for a batch of " + std::to_string(N) +
                " sequences");
  for (size_t n = 0; n < len.size(); ++n)
    if (len[n] < 1 || len[n] > T)
      throw Error("pack_padded_sequence: sequence " + std::to_string(n) + " has length " + std::to_string(len[n]) +
                  ", expected one in [1, " + std::to_string(T) + "]");
  return {data, std::move(len)};
}

Tensor pad_packed_sequence(const PackedSequence& sequence, bool batch_first) {
  const Tensor& data = sequence.data;
  if (!data.defined() || data.dim() != 3) throw Error("pad_packed_sequence: the sequence holds no [T, N, F] data");
  const int64_t T = data.size(0), F = data.size(2);
  std::vector<Tensor> steps;
  for (int64_t t = 0; t < T; ++t) {
    const Tensor m = step_mask(sequence.lengths, t, F, data.dtype());
    steps.push_back(where(m, select(data, 0, t), zeros({data.size(1), F}, data.dtype())));
  }
  const Tensor padded = stack(steps, 0);
  return batch_first ? permute(padded, {1, 0, 2}) : padded;
}

// ---- the layers ----

RecurrentBase::RecurrentBase(Kind kind, int64_t input_size, int64_t hidden_size, RNNOptions options)
    : kind_(kind),
      input_size_(input_size),
      hidden_size_(hidden_size),
      gates_(kind == Kind::lstm ? 4 : kind == Kind::gru ? 3 : 1),
      options_(std::move(options)),
      dropout_(options_.dropout, options_.generator) {
  const char* layer = kind == Kind::lstm ? "LSTM" : kind == Kind::gru ? "GRU" : "RNN";
  if (input_size <= 0 || hidden_size <= 0)
    throw Error(std::string(layer) + ": input_size and hidden_size must be positive, got " + std::to_string(input_size) +
                " and " + std::to_string(hidden_size));
  if (options_.num_layers < 1)
    throw Error(std::string(layer) + ": num_layers must be at least 1, got " + std::to_string(options_.num_layers));
  if (!is_floating(options_.dtype))
    throw Error(std::string(layer) + ": parameters must be float32 or float64, got " +
                std::string(dtype_name(options_.dtype)));
  Generator& gen = options_.generator ? *options_.generator : default_generator();
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  const int64_t G = gates_ * hidden_size, D = options_.bidirectional ? 2 : 1;
  for (int64_t l = 0; l < options_.num_layers; ++l)
    for (int64_t d = 0; d < D; ++d) {
      const std::string suffix = "_l" + std::to_string(l) + (d ? "_reverse" : "");
      const int64_t in = l == 0 ? input_size : D * hidden_size;
      params_.emplace_back("weight_ih" + suffix, uniform_parameter({G, in}, bound, options_.dtype, gen));
      params_.emplace_back("weight_hh" + suffix, uniform_parameter({G, hidden_size}, bound, options_.dtype, gen));
      if (options_.bias) {
        params_.emplace_back("bias_ih" + suffix, uniform_parameter({G}, bound, options_.dtype, gen));
        params_.emplace_back("bias_hh" + suffix, uniform_parameter({G}, bound, options_.dtype, gen));
      }
    }
}

std::string RecurrentBase::str() const {
  std::string s = name() + "(" + std::to_string(input_size_) + ", " + std::to_string(hidden_size_);
  if (options_.num_layers != 1) s += ", num_layers=" + std::to_string(options_.num_layers);
  if (kind_ == Kind::rnn_relu) s += ", nonlinearity=relu";
  if (!options_.bias) s += ", bias=false";
  if (options_.batch_first) s += ", batch_first=true";
  if (options_.dropout != 0.0) s += ", dropout=" + std::to_string(options_.dropout);
  if (options_.bidirectional) s += ", bidirectional=true";
  return s + ")";
}

Shape RecurrentBase::output_shape(const Shape& input) const {
  if ((input.size() != 2 && input.size() != 3) || input.back() != input_size_)
    throw Error(str() + ": expected an input [T, N, " + std::to_string(input_size_) + "] (or [N, T, " +
                std::to_string(input_size_) + "] with batch_first, or [T, " + std::to_string(input_size_) +
                "] unbatched), got " + input.str());
  std::vector<int64_t> s = input.vec();
  s.back() = (options_.bidirectional ? 2 : 1) * hidden_size_;
  return s;
}

NamedTensors RecurrentBase::own_parameters() const { return params_; }

Tensor RecurrentBase::forward(const Tensor& x) { return run(x, {}, {}, nullptr, false).output; }

RecurrentBase::Result RecurrentBase::run(const Tensor& x, const Tensor& h0, const Tensor& c0,
                                         const std::vector<int64_t>* lengths, bool time_major_in) const {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  output_shape(x.shape());
  if (x.dtype() != options_.dtype)
    throw Error(str() + ": input is " + std::string(dtype_name(x.dtype())) + " but the parameters are " +
                std::string(dtype_name(options_.dtype)) + "; convert with to()");
  const Cell cell = kind_ == Kind::lstm ? Cell::lstm
                    : kind_ == Kind::gru ? Cell::gru
                    : kind_ == Kind::rnn_relu ? Cell::rnn_relu
                                              : Cell::rnn_tanh;
  const bool unbatched = x.dim() == 2;
  const bool batch_first = options_.batch_first && !time_major_in && !unbatched;
  // The time axis of x: steps are taken from it where they lie, and stacked back there.
  const int64_t time_axis = batch_first ? 1 : 0;
  Tensor seq = unbatched ? unsqueeze(x, 1) : x;
  const int64_t T = seq.size(time_axis), N = seq.size(1 - time_axis), H = hidden_size_, L = options_.num_layers;
  const int64_t D = options_.bidirectional ? 2 : 1;
  auto initial = [&](const Tensor& s, const char* what) {
    if (!s.defined()) return Tensor();
    const Shape want = unbatched ? Shape{L * D, H} : Shape{L * D, N, H};
    if (s.shape() != want || s.dtype() != options_.dtype)
      throw Error(str() + ": expected " + what + " of shape " + want.str() + " " + std::string(dtype_name(options_.dtype)) +
                  ", got " + shape_and_dtype(s));
    return unbatched ? unsqueeze(s, 1) : s;
  };
  const Tensor h_init = initial(h0, "h0"), c_init = initial(c0, "c0");
  if (lengths && static_cast<int64_t>(lengths->size()) != N)
    throw Error(str() + ": " + std::to_string(lengths->size()) + " lengths for a batch of " + std::to_string(N));
  // Steps where some sequence has ended: its state is kept and its output is zero.
  std::vector<Tensor> masks(static_cast<size_t>(T));
  if (lengths)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t len : *lengths)
        if (t >= len) {
          masks[static_cast<size_t>(t)] = step_mask(*lengths, t, H, options_.dtype);
          break;
        }
  const Tensor zero = zeros({N, H}, options_.dtype);
  const bool drop = options_.dropout != 0.0 && L > 1;
  if (drop) compile_depends_on_mode();
  // The layers pass their outputs on step by step: a step's input is its own tensor, so each
  // step's gradient reaches only that tensor (a select() from one [T, N, F] tensor would give
  // every step a gradient of the whole sequence's size, T times).
  std::vector<Tensor> steps(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) steps[static_cast<size_t>(t)] = select(seq, time_axis, t);
  std::vector<Tensor> h_n, c_n;
  size_t p = 0;
  for (int64_t l = 0; l < L; ++l) {
    std::vector<std::vector<Tensor>> directions;
    for (int64_t d = 0; d < D; ++d) {
      const Tensor& w_ih = params_[p++].second;
      const Tensor& w_hh = params_[p++].second;
      Tensor b_ih, b_hh;
      if (options_.bias) {
        b_ih = params_[p++].second;
        b_hh = params_[p++].second;
      }
      const Tensor w_ih_t = transpose(w_ih), w_hh_t = transpose(w_hh);
      // RNN and LSTM add the two biases anyway: once per call, not twice per step. (GRU's n gate
      // multiplies h W_hn^T + b_hn by r, so it keeps them apart.)
      if (b_ih.defined() && cell != Cell::gru) {
        b_hh = b_ih + b_hh;
        b_ih = Tensor();
      }
      const int64_t k = l * D + d;
      Tensor h = h_init.defined() ? select(h_init, 0, k) : zero;
      Tensor c = cell == Cell::lstm ? (c_init.defined() ? select(c_init, 0, k) : zero) : Tensor();
      std::vector<Tensor> outputs(static_cast<size_t>(T));
      for (int64_t s = 0; s < T; ++s) {
        const int64_t t = d == 0 ? s : T - 1 - s;
        Tensor gi = matmul(steps[static_cast<size_t>(t)], w_ih_t);
        if (b_ih.defined()) gi = gi + b_ih;
        Tensor gh = matmul(h, w_hh_t);
        if (b_hh.defined()) gh = gh + b_hh;
        State next = cell_step(cell, gi, gh, h, c, H);
        const Tensor& m = masks[static_cast<size_t>(t)];
        if (m.defined()) {
          outputs[static_cast<size_t>(t)] = where(m, next.h, zero);
          h = where(m, next.h, h);
          if (cell == Cell::lstm) c = where(m, next.c, c);
        } else {
          outputs[static_cast<size_t>(t)] = next.h;
          h = next.h;
          c = next.c;
        }
      }
      directions.push_back(std::move(outputs));
      h_n.push_back(h);
      if (cell == Cell::lstm) c_n.push_back(c);
    }
    for (int64_t t = 0; t < T; ++t) {
      const size_t i = static_cast<size_t>(t);
      steps[i] = D == 1 ? directions[0][i] : cat({directions[0][i], directions[1][i]}, 1);
      if (drop && l + 1 < L && is_training()) steps[i] = dropout_(steps[i]);
    }
  }
  seq = stack(steps, time_axis);
  Result r;
  r.output = unbatched ? squeeze(seq, 1) : seq;
  r.h = stack(h_n, 0);
  if (cell == Cell::lstm) r.c = stack(c_n, 0);
  if (unbatched) {
    r.h = squeeze(r.h, 1);
    if (r.c.defined()) r.c = squeeze(r.c, 1);
  }
  return r;
}

RNN::RNN(int64_t input_size, int64_t hidden_size, RNNOptions options)
    : RecurrentBase(cell_of("RNN", false, false, options.nonlinearity) == Cell::rnn_relu ? Kind::rnn_relu : Kind::rnn_tanh,
                    input_size, hidden_size, options) {}

std::tuple<Tensor, Tensor> RNN::operator()(const Tensor& x, const Tensor& h0) {
  Result r = run(x, h0, {}, nullptr, false);
  return {r.output, r.h};
}
std::tuple<PackedSequence, Tensor> RNN::operator()(const PackedSequence& x, const Tensor& h0) {
  Result r = run(x.data, h0, {}, &x.lengths, true);
  return {PackedSequence{r.output, x.lengths}, r.h};
}

LSTM::LSTM(int64_t input_size, int64_t hidden_size, LSTMOptions options)
    : RecurrentBase((cell_of("LSTM", true, false, options.nonlinearity), Kind::lstm), input_size, hidden_size, options) {}

std::tuple<Tensor, LSTMState> LSTM::operator()(const Tensor& x, const LSTMState& state) {
  Result r = run(x, state.h, state.c, nullptr, false);
  return {r.output, LSTMState{r.h, r.c}};
}
std::tuple<PackedSequence, LSTMState> LSTM::operator()(const PackedSequence& x, const LSTMState& state) {
  Result r = run(x.data, state.h, state.c, &x.lengths, true);
  return {PackedSequence{r.output, x.lengths}, LSTMState{r.h, r.c}};
}

GRU::GRU(int64_t input_size, int64_t hidden_size, GRUOptions options)
    : RecurrentBase((cell_of("GRU", false, true, options.nonlinearity), Kind::gru), input_size, hidden_size, options) {}

std::tuple<Tensor, Tensor> GRU::operator()(const Tensor& x, const Tensor& h0) {
  Result r = run(x, h0, {}, nullptr, false);
  return {r.output, r.h};
}
std::tuple<PackedSequence, Tensor> GRU::operator()(const PackedSequence& x, const Tensor& h0) {
  Result r = run(x.data, h0, {}, &x.lengths, true);
  return {PackedSequence{r.output, x.lengths}, r.h};
}

// ---- the cells ----

RecurrentCellBase::RecurrentCellBase(const char* kind, int gates, int64_t input_size, int64_t hidden_size,
                                     const RNNCellOptions& options)
    : kind_(kind), input_size_(input_size), hidden_size_(hidden_size) {
  if (input_size <= 0 || hidden_size <= 0)
    throw Error(kind_ + ": input_size and hidden_size must be positive, got " + std::to_string(input_size) + " and " +
                std::to_string(hidden_size));
  if (!is_floating(options.dtype))
    throw Error(kind_ + ": parameters must be float32 or float64, got " + std::string(dtype_name(options.dtype)));
  relu_ = cell_of(kind, kind_ == "LSTMCell", kind_ == "GRUCell", options.nonlinearity) == Cell::rnn_relu;
  Generator& gen = options.generator ? *options.generator : default_generator();
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  const int64_t G = gates * hidden_size;
  weight_ih_ = uniform_parameter({G, input_size}, bound, options.dtype, gen);
  weight_hh_ = uniform_parameter({G, hidden_size}, bound, options.dtype, gen);
  if (options.bias) {
    bias_ih_ = uniform_parameter({G}, bound, options.dtype, gen);
    bias_hh_ = uniform_parameter({G}, bound, options.dtype, gen);
  }
}

std::string RecurrentCellBase::str() const {
  std::string s = kind_ + "(" + std::to_string(input_size_) + ", " + std::to_string(hidden_size_);
  if (relu_) s += ", nonlinearity=relu";
  if (!bias_ih_.defined()) s += ", bias=false";
  return s + ")";
}

Shape RecurrentCellBase::output_shape(const Shape& input) const {
  if (input.size() != 2 || input[1] != input_size_)
    throw Error(str() + ": expected an input [N, " + std::to_string(input_size_) + "], got " + input.str());
  return {input[0], hidden_size_};
}

NamedTensors RecurrentCellBase::own_parameters() const {
  NamedTensors p{{"weight_ih", weight_ih_}, {"weight_hh", weight_hh_}};
  if (bias_ih_.defined()) {
    p.emplace_back("bias_ih", bias_ih_);
    p.emplace_back("bias_hh", bias_hh_);
  }
  return p;
}

void RecurrentCellBase::check_input(const Tensor& x) const {
  if (!x.defined()) throw Error(str() + ": the input is undefined");
  output_shape(x.shape());
  if (x.dtype() != weight_ih_.dtype())
    throw Error(str() + ": input is " + std::string(dtype_name(x.dtype())) + " but the parameters are " +
                std::string(dtype_name(weight_ih_.dtype())) + "; convert with to()");
}

Tensor RecurrentCellBase::input_part(const Tensor& x) const {
  const Tensor p = matmul(x, transpose(weight_ih_));
  return bias_ih_.defined() ? p + bias_ih_ : p;
}
Tensor RecurrentCellBase::hidden_part(const Tensor& h) const {
  const Tensor p = matmul(h, transpose(weight_hh_));
  return bias_hh_.defined() ? p + bias_hh_ : p;
}

Tensor RecurrentCellBase::state_or_zeros(const Tensor& s, const Tensor& x, const char* what) const {
  const Shape want{x.size(0), hidden_size_};
  if (!s.defined()) return zeros(want, x.dtype());
  if (s.shape() != want || s.dtype() != x.dtype())
    throw Error(str() + ": expected " + what + " of shape " + want.str() + " " + std::string(dtype_name(x.dtype())) +
                ", got " + shape_and_dtype(s));
  return s;
}

RNNCell::RNNCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options)
    : RecurrentCellBase("RNNCell", 1, input_size, hidden_size, options) {}

Tensor RNNCell::operator()(const Tensor& x, const Tensor& h) {
  check_input(x);
  const Tensor h0 = state_or_zeros(h, x, "h");
  return cell_step(relu_ ? Cell::rnn_relu : Cell::rnn_tanh, input_part(x), hidden_part(h0), h0, {}, hidden_size()).h;
}

LSTMCell::LSTMCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options)
    : RecurrentCellBase("LSTMCell", 4, input_size, hidden_size, options) {}

LSTMState LSTMCell::operator()(const Tensor& x, const LSTMState& state) {
  check_input(x);
  const Tensor h0 = state_or_zeros(state.h, x, "h"), c0 = state_or_zeros(state.c, x, "c");
  State s = cell_step(Cell::lstm, input_part(x), hidden_part(h0), h0, c0, hidden_size());
  return {s.h, s.c};
}

GRUCell::GRUCell(int64_t input_size, int64_t hidden_size, RNNCellOptions options)
    : RecurrentCellBase("GRUCell", 3, input_size, hidden_size, options) {}

Tensor GRUCell::operator()(const Tensor& x, const Tensor& h) {
  check_input(x);
  const Tensor h0 = state_or_zeros(h, x, "h");
  return cell_step(Cell::gru, input_part(x), hidden_part(h0), h0, {}, hidden_size()).h;
}

}  // namespace tapegrad::nn
