// Tensor handles, creation, element access and printing.
#include "tapegrad/core/tensor.h"

#include <cmath>
#include <cstring>
#include <iomanip>
#include <sstream>

#include "tensor_hooks.h"

namespace tapegrad {

namespace detail {

TG_TLS thread_local TensorHooks* tensor_hooks = nullptr;

Tensor make_tensor(const Shape& shape, Dtype dtype, const char* op) {
  if (tensor_hooks) [[unlikely]] {
    if (TensorImpl* r = tensor_hooks->reuse(shape, dtype)) {
      r->retain();
      return adopt(r);
    }
  }
  const int64_t numel = shape.checked_numel(op);
  size_t bytes = 0;
  // Far below SIZE_MAX: the allocator adds a header and rounds up to a power of two.
  if (__builtin_mul_overflow(static_cast<size_t>(numel), dtype_size(dtype), &bytes) || bytes > (size_t{1} << 56))
    throw Error(std::string(op) + ": shape " + shape.str() + " of " + std::string(dtype_name(dtype)) + " needs more bytes than can be addressed");
  auto* impl = new TensorImpl();
  impl->dtype = dtype;
  impl->shape = shape;
  impl->numel = numel;
  try {
    impl->storage = Storage::create(bytes);
  } catch (const std::bad_alloc&) {
    delete impl;
    throw Error(std::string(op) + ": cannot allocate " + std::to_string(bytes) + " bytes for shape " + shape.str() + " of " +
                std::string(dtype_name(dtype)) + " (out of memory)");
  }
  if (tensor_hooks) [[unlikely]] tensor_hooks->made(*impl, nullptr);
  return adopt(impl);
}

void throw_not_floating(Dtype d) {
  throw Error("expected a float32 or float64 tensor, got " + std::string(dtype_name(d)) +
              (d == Dtype::bf16 ? " (bfloat16 tensors are storage: convert with .to(tg::Dtype::f32), or compute under "
                                  "tg::AutocastGuard, whose products take bfloat16 operands)"
                                : " (int64 tensors hold indices: convert with .to(tg::Dtype::f32) to compute with them)"));
}

void throw_bf16_input(const char* op, size_t input) {
  throw Error(std::string(op) + ": input " + std::to_string(input) +
              " is a bfloat16 tensor; it takes float32 or float64 (bfloat16 tensors are storage: convert with "
              ".to(tg::Dtype::f32), or compute under tg::AutocastGuard, whose products take bfloat16 operands)");
}

void throw_int64_input(const char* op, size_t input) {
  throw Error(std::string(op) + ": input " + std::to_string(input) +
              " is an int64 tensor; it takes float32 or float64 (int64 tensors hold indices and labels: "
              "convert with .to(tg::Dtype::f32) to compute with them)");
}

void throw_no_int64_value(const char* op, int64_t k, double v) {
  std::ostringstream os;
  os << op << ": element " << k << " is " << v << ", which has no int64 value";
  throw Error(os.str());
}

Tensor make_view(const Tensor& base, const Shape& shape) {
  auto* impl = new TensorImpl();
  impl->dtype = base.dtype();
  impl->shape = shape;
  impl->numel = shape.numel();
  impl->storage = impl_of(base)->storage;
  impl->storage->retain();
  if (tensor_hooks) [[unlikely]] tensor_hooks->made(*impl, impl_of(base));
  return adopt(impl);
}

}  // namespace detail

using detail::dispatch;
using detail::dispatch_any;
using detail::TensorImpl;

namespace {
const TensorImpl& need(const TensorImpl* p, const char* what) {
  if (!p) throw Error(std::string(what) + ": the tensor is undefined (default-constructed)");
  return *p;
}
}  // namespace

void Tensor::retain(TensorImpl* impl) noexcept { impl->retain(); }
void Tensor::release(TensorImpl* impl) noexcept { impl->release(); }

int64_t Tensor::use_count() const { return impl_ ? impl_->refs.load(std::memory_order_relaxed) : 0; }

const Shape& Tensor::shape() const { return need(impl_, "shape").shape; }
Dtype Tensor::dtype() const { return need(impl_, "dtype").dtype; }
int64_t Tensor::numel() const { return need(impl_, "numel").numel; }

int64_t Tensor::size(int64_t axis) const {
  const Shape& s = shape();
  int64_t r = static_cast<int64_t>(s.size());
  if (axis < -r || axis >= r)
    throw Error("size: axis " + std::to_string(axis) + " is out of range for shape " + s.str());
  return s[static_cast<size_t>(axis < 0 ? axis + r : axis)];
}

const void* Tensor::raw_data() const {
  detail::check_read(impl_, "data");
  return need(impl_, "data").storage->data;
}
void* Tensor::raw_data() {
  detail::check_read(impl_, "data");
  return need(impl_, "data").storage->data;
}

template <class T>
const T* Tensor::data() const {
  if (dtype() != dtype_of<T>())
    throw Error(std::string("data: tensor holds ") + std::string(dtype_name(dtype())) + ", asked for " +
                std::string(dtype_name(dtype_of<T>())));
  return static_cast<const T*>(raw_data());
}
template <class T>
T* Tensor::data() {
  return const_cast<T*>(static_cast<const Tensor*>(this)->data<T>());
}
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;
template const int64_t* Tensor::data<int64_t>() const;
template const bfloat16* Tensor::data<bfloat16>() const;
template bfloat16* Tensor::data<bfloat16>();
template float* Tensor::data<float>();
template double* Tensor::data<double>();
template int64_t* Tensor::data<int64_t>();

template <class T>
std::vector<T> Tensor::to_vector() const {
  detail::check_read(impl_, "to_vector");
  std::vector<T> out(static_cast<size_t>(numel()));
  dispatch_any(dtype(), [&](auto tag) {
    using S = decltype(tag);
    const S* p = static_cast<const S*>(raw_data());
    for (size_t i = 0; i < out.size(); ++i) out[i] = detail::convert_element<T>(p[i], "to_vector", static_cast<int64_t>(i));
  });
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

namespace {
double element(const Tensor& t, int64_t flat) {
  return dispatch_any(t.dtype(), [&](auto tag) -> double {
    using T = decltype(tag);
    return detail::convert_element<double>(static_cast<const T*>(t.raw_data())[flat], "item", flat);
  });
}
}  // namespace

double Tensor::item() const {
  if (!defined()) throw Error("item: the tensor is undefined (default-constructed)");
  detail::check_read(impl_, "item");
  if (numel() != 1)
    throw Error("item: expected a tensor with one element, got shape " + shape().str() + " (" +
                std::to_string(numel()) + " elements)");
  return element(*this, 0);
}

double Tensor::at(const std::vector<int64_t>& index) const {
  detail::check_read(impl_, "at");
  const Shape& s = shape();
  auto show = [&] {
    std::string r = "[";
    for (size_t i = 0; i < index.size(); ++i) r += (i ? ", " : "") + std::to_string(index[i]);
    return r + "]";
  };
  if (index.size() != s.size())
    throw Error("at: index " + show() + " has " + std::to_string(index.size()) + " entries but the tensor has shape " +
                s.str());
  int64_t flat = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    if (index[i] < 0 || index[i] >= s[i])
      throw Error("at: index " + show() + " is out of range for shape " + s.str());
    flat = flat * s[i] + index[i];
  }
  return element(*this, flat);
}
double Tensor::at(std::initializer_list<int64_t> index) const { return at(std::vector<int64_t>(index)); }

Tensor detail::copy_of(const Tensor& t) {
  Tensor out = make_tensor(t.shape(), t.dtype(), "clone");
  if (t.numel()) std::memcpy(out.raw_data(), t.raw_data(), static_cast<size_t>(t.numel()) * dtype_size(t.dtype()));
  return out;
}

Tensor Tensor::detach() const {
  if (detail::tensor_hooks && impl_) [[unlikely]]
    if (Tensor t = detail::tensor_hooks->detach(*this); t.defined()) return t;
  return detail::make_view(*this, shape());
}

uint32_t Tensor::version() const { return need(impl_, "version").storage->version; }

Tensor& Tensor::add_(const Tensor& other, double alpha) {
  detail::check_write("add_");
  if (other.shape() != shape() || other.dtype() != dtype())
    throw Error("add_: expected " + shape().str() + " " + std::string(dtype_name(dtype())) + ", got " +
                other.shape().str() + " " + std::string(dtype_name(other.dtype())));
  detail::need_floating("add_", dtype());
  dispatch(dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* a = data<T>();
    const T* b = other.data<T>();
    const T s = static_cast<T>(alpha);
    for (int64_t k = 0, n = numel(); k < n; ++k) a[k] += s * b[k];
  });
  impl_->storage->bump_in_place("add_");
  return *this;
}

Tensor& Tensor::mul_(double s) {
  detail::check_write("mul_");
  detail::need_floating("mul_", dtype());
  dispatch(dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* a = data<T>();
    for (int64_t k = 0, n = numel(); k < n; ++k) a[k] *= static_cast<T>(s);
  });
  impl_->storage->bump_in_place("mul_");
  return *this;
}

Tensor& Tensor::fill_(double v) {
  detail::check_write("fill_");
  dispatch_any(dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* a = data<T>();
    std::fill(a, a + numel(), detail::convert_element<T>(v, "fill_", 0));
  });
  impl_->storage->bump_in_place("fill_");
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  detail::check_write("copy_");
  if (src.shape() != shape()) throw Error("copy_: expected shape " + shape().str() + ", got " + src.shape().str());
  dispatch_any(dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* a = data<T>();
    dispatch_any(src.dtype(), [&](auto stag) {
      using S = decltype(stag);
      const S* b = src.data<S>();
      for (int64_t k = 0, n = numel(); k < n; ++k) a[k] = detail::convert_element<T>(b[k], "copy_", k);
    });
  });
  impl_->storage->bump_in_place("copy_");
  return *this;
}

std::string Tensor::str() const {
  if (!impl_) return "tensor(undefined)";
  std::ostringstream os;
  os << std::setprecision(6);
  const Shape& s = shape();
  // int64 elements print from their own values: a double holds them exactly only up to 2^53.
  const bool ints = dtype() == Dtype::i64;
  const std::vector<double> v = ints ? std::vector<double>() : to_vector<double>();
  const std::vector<int64_t> iv = ints ? to_vector<int64_t>() : std::vector<int64_t>();
  auto put = [&](int64_t k) {
    if (ints) os << iv[static_cast<size_t>(k)];
    else os << v[static_cast<size_t>(k)];
  };
  // Print nested brackets row-major; large tensors show their first and last elements only.
  const int64_t n = numel();
  os << "tensor(";
  if (s.empty()) {
    put(0);
  } else {
    // block[d]: elements in one slice from dimension d inward; a bracket opens where k is a
    // multiple of it and closes after its last element.
    std::vector<int64_t> block(s.size(), 1);
    block[s.size() - 1] = s[s.size() - 1];
    for (size_t d = s.size() - 1; d > 0; --d) block[d - 1] = block[d] * s[d - 1];
    const bool abridged = n > 1000;
    for (int64_t k = 0; k < n; ++k) {
      if (abridged && k == 3) {
        os << "..., ";
        k = n - 3;
      }
      for (size_t d = 0; d < s.size(); ++d)
        if (k % block[d] == 0) os << "[";
      put(k);
      size_t closes = 0;
      for (size_t d = 0; d < s.size(); ++d)
        if ((k + 1) % block[d] == 0) ++closes;
      os << std::string(closes, ']');
      if (k + 1 < n) {
        if (closes) os << "," << std::string(closes, '\n').substr(0, closes > 1 ? 2 : 1) << std::string(7 + s.size() - closes, ' ');
        else os << ", ";
      }
    }
  }
  os << ", shape=" << s.str() << ", dtype=" << dtype_name(dtype());
  if (requires_grad()) os << ", requires_grad";
  os << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- creation -------------------------------------------------------------------------------

namespace {
Tensor from_doubles(const double* v, const Shape& shape, Dtype dtype) {
  Tensor t = detail::make_tensor(shape, dtype);
  dispatch_any(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (int64_t k = 0, n = t.numel(); k < n; ++k) p[k] = detail::convert_element<T>(v[k], "tensor", k);
  });
  return t;
}
}  // namespace

Tensor tensor(double value, Dtype dtype) { return from_doubles(&value, Shape{}, dtype); }

Tensor tensor_rank1(const std::vector<double>& values, Dtype dtype) {
  return from_doubles(values.data(), Shape{static_cast<int64_t>(values.size())}, dtype);
}

Tensor tensor_rank2(List2 values, Dtype dtype) {
  std::vector<double> flat;
  size_t cols = values.size() ? values.begin()->size() : 0;
  for (const auto& row : values) {
    if (row.size() != cols)
      throw Error("tensor: ragged nested list: row of " + std::to_string(row.size()) + " values, expected " +
                  std::to_string(cols));
    flat.insert(flat.end(), row.begin(), row.end());
  }
  return from_doubles(flat.data(), Shape{static_cast<int64_t>(values.size()), static_cast<int64_t>(cols)}, dtype);
}

Tensor tensor(List3 values, Dtype dtype) {
  std::vector<double> flat;
  size_t rows = values.size() ? values.begin()->size() : 0;
  size_t cols = rows ? values.begin()->begin()->size() : 0;
  for (const auto& m : values) {
    if (m.size() != rows) throw Error("tensor: ragged nested list: a matrix has " + std::to_string(m.size()) +
                                      " rows, expected " + std::to_string(rows));
    for (const auto& row : m) {
      if (row.size() != cols)
        throw Error("tensor: ragged nested list: row of " + std::to_string(row.size()) + " values, expected " +
                    std::to_string(cols));
      flat.insert(flat.end(), row.begin(), row.end());
    }
  }
  return from_doubles(flat.data(),
                      Shape{static_cast<int64_t>(values.size()), static_cast<int64_t>(rows), static_cast<int64_t>(cols)},
                      dtype);
}

namespace {
template <class V>
Tensor from_any_vector(const std::vector<V>& values, const Shape& shape, Dtype dtype) {
  if (static_cast<int64_t>(values.size()) != shape.checked_numel("from_vector"))
    throw Error("from_vector: " + std::to_string(values.size()) + " values do not fill shape " + shape.str() + " (" +
                std::to_string(shape.numel()) + " elements)");
  Tensor t = detail::make_tensor(shape, dtype, "from_vector");
  dispatch_any(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
    for (size_t k = 0; k < values.size(); ++k) p[k] = detail::convert_element<T>(values[k], "from_vector", static_cast<int64_t>(k));
  });
  return t;
}
}  // namespace

Tensor from_vector(const std::vector<double>& values, const Shape& shape, Dtype dtype) {
  return from_any_vector(values, shape, dtype);
}
Tensor from_vector(const std::vector<float>& values, const Shape& shape, Dtype dtype) {
  return from_any_vector(values, shape, dtype);
}
Tensor from_vector(const std::vector<int64_t>& values, const Shape& shape, Dtype dtype) {
  return from_any_vector(values, shape, dtype);
}

Tensor empty(const Shape& shape, Dtype dtype) { return detail::make_tensor(shape, dtype, "empty"); }
namespace {
Tensor filled(const Shape& shape, double value, Dtype dtype, const char* op) {
  Tensor t = detail::make_tensor(shape, dtype, op);
  dispatch_any(dtype, [&](auto tag) {
    using T = decltype(tag);
    std::fill(t.data<T>(), t.data<T>() + t.numel(), detail::convert_element<T>(value, op, 0));
  });
  return t;
}
}  // namespace
Tensor full(const Shape& shape, double value, Dtype dtype) { return filled(shape, value, dtype, "full"); }
Tensor zeros(const Shape& shape, Dtype dtype) { return filled(shape, 0.0, dtype, "zeros"); }
Tensor ones(const Shape& shape, Dtype dtype) { return filled(shape, 1.0, dtype, "ones"); }
Tensor zeros_like(const Tensor& like) { return zeros(like.shape(), like.dtype()); }

}  // namespace tapegrad
