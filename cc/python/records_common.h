// Helpers the TFRecord bindings share: feature names as str, holding a native object's mutex from
// Python threads, and letting Ctrl-C through long native loops.
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace tfforge::py {

// Feature names are bytes on the wire. As str they are UTF-8, with bytes that are not UTF-8 kept as lone
// surrogates (Python's "surrogateescape"), so any key round-trips through Python, a spec and back.
inline pybind11::str key_str(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "surrogateescape");
  if (!o) throw pybind11::error_already_set();
  return pybind11::reinterpret_steal<pybind11::str>(o);
}

inline std::string key_bytes(pybind11::handle h) {
  if (PyBytes_Check(h.ptr())) return std::string(PyBytes_AS_STRING(h.ptr()), size_t(PyBytes_GET_SIZE(h.ptr())));
  PyObject* b = PyUnicode_AsEncodedString(h.ptr(), "utf-8", "surrogateescape");
  if (!b) throw pybind11::error_already_set();
  std::string out(PyBytes_AS_STRING(b), size_t(PyBytes_GET_SIZE(b)));
  Py_DECREF(b);
  return out;
}

// Locks a native object's mutex for one call. The lock is taken with the GIL released, so a thread that
// waits for it never holds up the thread that has it (which may need the GIL to finish).
template <typename T>
std::unique_lock<std::mutex> hold(T& obj) {
  pybind11::gil_scoped_release release;
  return std::unique_lock<std::mutex>(obj.mutex());
}

// For loops that run with the GIL released: due() is true every 50 ms (the clock is read every `every`
// calls), raised() then takes the GIL and runs Python's signal handlers; true means one raised (e.g.
// KeyboardInterrupt) and the Python error is set: stop, and throw pybind11::error_already_set once
// the GIL is back. So Ctrl-C or SIGTERM acts within a fraction of a second, not after the whole call.
class SignalPoll {
 public:
  explicit SignalPoll(uint32_t every = 64) : every_(every) {}
  bool due() {
    if (++calls_ % every_ != 0) return false;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(50)) return false;
    last_ = now;
    return true;
  }
  bool raised() {
    pybind11::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
  }
  bool check() { return due() && raised(); }

 private:
  uint32_t every_, calls_ = 0;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

}  // namespace tfforge::py
