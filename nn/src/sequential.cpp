#include "tapegrad/nn/sequential.h"

#include <algorithm>
#include <sstream>

namespace tapegrad::nn {

namespace {

// "[N, 784]" for [-1, 784]: -1 is the free batch dimension.
std::string shape_text(const Shape& s) {
  std::string r = "[";
  for (size_t d = 0; d < s.size(); ++d) r += (d ? ", " : "") + (s[d] < 0 ? std::string("N") : std::to_string(s[d]));
  return r + "]";
}

std::string indent_continuation(const std::string& text) {
  std::string r;
  for (char c : text) {
    r += c;
    if (c == '\n') r += "  ";
  }
  return r;
}

}  // namespace

Sequential& Sequential::push_back(std::shared_ptr<Module> m) {
  if (!m) throw Error("Sequential::push_back: the module is null");
  m->train(is_training());
  modules_.push_back(std::move(m));
  return *this;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (size_t i = 0; i < modules_.size(); ++i) {
    try {
      h = modules_[i]->forward(h);
    } catch (const Error& e) {
      throw Error("Sequential[" + std::to_string(i) + "]: " + e.what());
    }
  }
  return h;
}

Shape Sequential::output_shape(const Shape& input) const {
  Shape s = input;
  for (size_t i = 0; i < modules_.size(); ++i) {
    try {
      s = modules_[i]->output_shape(s);
    } catch (const Error& e) {
      throw Error("Sequential[" + std::to_string(i) + "]: " + e.what());
    }
  }
  return s;
}

Shape Sequential::input_shape_hint() const {
  // A later module's hint is the chain's only if every module before it passes that shape through
  // unchanged (ReLU, Dropout): the [N, 3136] of a Linear after Conv2d and pooling is not.
  for (size_t i = 0; i < modules_.size(); ++i) {
    const Shape hint = modules_[i]->input_shape_hint();
    if (hint.empty()) continue;
    bool passes = true;
    for (size_t j = 0; j < i && passes; ++j) {
      try {
        passes = modules_[j]->output_shape(hint) == hint;
      } catch (const Error&) {
        passes = false;
      }
    }
    if (passes) return hint;
  }
  return {};
}

NamedModules Sequential::named_children() const {
  NamedModules out;
  for (size_t i = 0; i < modules_.size(); ++i) out.emplace_back(std::to_string(i), modules_[i]);
  return out;
}

Module& Sequential::operator[](size_t i) const {
  if (i >= modules_.size())
    throw Error("Sequential: index " + std::to_string(i) + " is out of range: expected below " +
                std::to_string(modules_.size()) + ", the number of modules");
  return *modules_[i];
}

std::string Sequential::str() const {
  Shape hint = input_shape_hint();
  if (hint.empty()) return summary(Shape{});
  return summary(hint);
}

std::string Sequential::summary(const Shape& input) const {
  // Before the first module that fixes its input, shapes are unknown unless the caller gave one.
  bool known = !input.empty();
  Shape s = input;
  struct Row {
    std::string layer, shapes, params;
  };
  std::vector<Row> rows;
  size_t w_layer = 0, w_shapes = 0;
  for (size_t i = 0; i < modules_.size(); ++i) {
    const Module& m = *modules_[i];
    Row r;
    r.layer = std::string("(").append(std::to_string(i)).append("): ").append(indent_continuation(m.str()));
    // Where the shapes are unknown (no input given, or a module before failed), a module that
    // fixes its own input (a Linear after Conv2d and Flatten) starts them again.
    if (!known && !m.input_shape_hint().empty()) {
      s = m.input_shape_hint();
      known = true;
    }
    std::string in_text = known ? shape_text(s) : "?", out_text = "?";
    if (known) {
      try {
        s = m.output_shape(s);
        out_text = shape_text(s);
      } catch (const Error& e) {
        out_text = std::string("error: ") + e.what();
        known = false;
      }
    }
    r.shapes = in_text + " -> " + out_text;
    r.params = std::to_string(m.parameter_count()) + " params";
    // The longest line of a nested module's text sets the column.
    size_t last_line = r.layer.size() - (r.layer.rfind('\n') == std::string::npos ? 0 : r.layer.rfind('\n') + 1);
    w_layer = std::max(w_layer, last_line);
    w_shapes = std::max(w_shapes, r.shapes.size());
    rows.push_back(std::move(r));
  }
  std::ostringstream os;
  os << "Sequential(\n";
  for (const Row& r : rows) {
    size_t last_line = r.layer.size() - (r.layer.rfind('\n') == std::string::npos ? 0 : r.layer.rfind('\n') + 1);
    os << "  " << r.layer << std::string(w_layer - last_line + 2, ' ') << r.shapes
       << std::string(w_shapes - r.shapes.size() + 2, ' ') << r.params << "\n";
  }
  os << ")\nTotal: " << parameter_count() << " params";
  return os.str();
}

}  // namespace tapegrad::nn
