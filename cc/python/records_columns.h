// Decoded columns to Python, shared by the record-reading bindings: the spec list Python passes in,
// and an ExampleDecoder's columns handed to numpy (numeric values and splits without a copy).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "error.h"
#include "python/records_common.h"
#include "record/example_decoder.h"

namespace tfforge::py {

inline record::Kind parse_kind(const std::string& s) {
  if (s == "int64") return record::Kind::kInt64;
  if (s == "float") return record::Kind::kFloat;
  if (s == "bytes") return record::Kind::kBytes;
  throw tfforge::Error("SpecError", "unknown feature kind '" + s + "' (expected int64, float or bytes)");
}

// spec: list of (name, kind, count (-1 = variable length), default (None or list), as_str
//                [, sequence, required, stride]). Fills *as_str per feature.
inline std::vector<record::FeatureSpec> parse_spec(const pybind11::list& spec, std::vector<bool>* as_str) {
  using record::Kind;
  std::vector<record::FeatureSpec> fs;
  for (const pybind11::handle& h : spec) {
    pybind11::tuple t = pybind11::reinterpret_borrow<pybind11::tuple>(h);
    record::FeatureSpec f;
    f.name = key_bytes(t[0]);
    f.kind = parse_kind(t[1].cast<std::string>());
    f.count = t[2].cast<int64_t>();
    if (t.size() >= 8) {
      f.sequence = t[5].cast<bool>();
      f.required = t[6].cast<bool>();
      f.stride = t[7].cast<int64_t>();
    }
    if (!t[3].is_none()) {
      f.has_default = true;
      for (const pybind11::handle& v : t[3]) {
        if (f.kind == Kind::kInt64) f.default_i64.push_back(v.cast<int64_t>());
        else if (f.kind == Kind::kFloat) f.default_f32.push_back(v.cast<float>());
        else if (pybind11::isinstance<pybind11::str>(v)) f.default_bytes.push_back(v.cast<std::string>());
        else f.default_bytes.push_back(std::string(v.cast<pybind11::bytes>()));
      }
      size_t n = f.default_i64.size() + f.default_f32.size() + f.default_bytes.size();
      if (int64_t(n) != f.count)
        throw tfforge::Error("SpecError", "feature '" + f.name + "': default has " + std::to_string(n) +
                                              " values, the shape needs " + std::to_string(f.count));
    }
    as_str->push_back(t[4].cast<bool>());
    fs.push_back(std::move(f));
  }
  return fs;
}

// A vector handed to numpy without a copy: the array owns it through a capsule.
template <typename T>
pybind11::array_t<T> to_numpy(std::vector<T>&& v) {
  auto* owned = new std::vector<T>(std::move(v));
  pybind11::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return pybind11::array_t<T>({pybind11::ssize_t(owned->size())}, {pybind11::ssize_t(sizeof(T))}, owned->data(),
                              free_when_done);
}

inline pybind11::array bytes_array(const record::ColumnOut& c, bool as_str) {
  size_t n = c.bytes_offsets.size() - 1;
  pybind11::array out(pybind11::dtype("O"), std::vector<pybind11::ssize_t>{pybind11::ssize_t(n)});
  auto** slots = static_cast<PyObject**>(out.mutable_data());
  for (size_t i = 0; i < n; ++i) {
    Py_ssize_t len = Py_ssize_t(c.bytes_offsets[i + 1] - c.bytes_offsets[i]);
    const char* data = reinterpret_cast<const char*>(c.value_data(i));
    PyObject* o = as_str ? PyUnicode_DecodeUTF8(data, len, "replace") : PyBytes_FromStringAndSize(data, len);
    if (!o) throw pybind11::error_already_set();
    Py_XDECREF(slots[i]);
    slots[i] = o;
  }
  return out;
}

// Takes a decoder's columns: {name: (values, row_splits)} ({(name, True): (values, row_splits,
// step_splits)} for feature lists); bytes values as an object array of bytes (or str). The caller
// resets the decoder afterwards (remember_sizes() is called here, so the next batch starts reserved).
inline pybind11::dict take_columns(record::ExampleDecoder& dec, const std::vector<bool>& as_str) {
  using record::Kind;
  pybind11::dict out;
  auto& cols = dec.columns();
  dec.remember_sizes();
  for (size_t k = 0; k < cols.size(); ++k) {
    record::ColumnOut& c = cols[k];
    pybind11::object values;
    if (c.kind == Kind::kInt64) values = to_numpy(std::move(c.i64));
    else if (c.kind == Kind::kFloat) values = to_numpy(std::move(c.f32));
    else values = bytes_array(c, as_str[k]);
    const record::FeatureSpec& fs = dec.spec()[k];
    pybind11::object key = fs.sequence ? pybind11::object(pybind11::make_tuple(key_str(fs.name), true))
                                       : pybind11::object(key_str(fs.name));
    if (fs.sequence)
      out[key] = pybind11::make_tuple(values, to_numpy(std::move(c.row_splits)), to_numpy(std::move(c.step_splits)));
    else
      out[key] = pybind11::make_tuple(values, to_numpy(std::move(c.row_splits)));
  }
  return out;
}

}  // namespace tfforge::py
