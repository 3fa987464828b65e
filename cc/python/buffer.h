// Zero-copy views of Python buffer-protocol objects (bytes, bytearray, memoryview, numpy arrays).
#pragma once

#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>

namespace tfforge::py {

struct ByteView {
  pybind11::buffer_info info;  // holds the buffer (and the exporter) alive while in use
  const uint8_t* data() const { return static_cast<const uint8_t*>(info.ptr); }
  size_t size() const { return size_t(info.size) * size_t(info.itemsize); }
};

// Requests a C-contiguous read-only view; raises TypeError for non-buffers, ValueError for
// non-contiguous ones (copying silently would hide a large cost).
inline ByteView byte_view(const pybind11::object& obj) {
  if (!PyObject_CheckBuffer(obj.ptr()))
    throw pybind11::type_error(std::string("expected a bytes-like object (buffer protocol), got ") +
                               Py_TYPE(obj.ptr())->tp_name);
  auto* view = new Py_buffer();
  if (PyObject_GetBuffer(obj.ptr(), view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
    delete view;
    throw pybind11::error_already_set();
  }
  return ByteView{pybind11::buffer_info(view, /*ownview=*/true)};  // releases and deletes the view
}

}  // namespace tfforge::py
