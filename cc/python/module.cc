// tfforge._native: the binding module. It links neither TensorFlow nor libprotobuf.
#include <pybind11/pybind11.h>

#include <algorithm>

#include "error.h"
#include "wire/wire.h"
#include "python/registry.h"

namespace py = pybind11;

namespace tfforge::py {
std::vector<std::pair<std::string, Binder>>& binders() {
  static std::vector<std::pair<std::string, Binder>> all;
  return all;
}
}  // namespace tfforge::py

PYBIND11_MODULE(_native, m) {
  m.doc() = "tfforge native core: protobuf wire format, TFRecord, graph engine";
#ifdef TFFORGE_VERSION
  m.attr("__version__") = TFFORGE_VERSION;
#endif
  // tfforge::Error carries the name of its Python class in tfforge.errors. Messages, paths and node
  // names quote the input, which need not be UTF-8, so they are decoded with backslash escapes.
  // A wire::ParseError that escapes a decoder becomes WireFormatError with its offset.
  py::register_exception_translator([](std::exception_ptr p) {
    auto lenient = [](const std::string& s) {
      return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "backslashreplace"));
    };
    auto raise = [](const char* kind, py::str message, py::dict kw) {
      py::object errors = py::module_::import("tfforge.errors");
      py::object cls = py::hasattr(errors, kind) ? errors.attr(kind) : errors.attr("TfforgeError");
      py::object exc = cls(message, **kw);
      PyErr_SetObject(cls.ptr(), exc.ptr());
    };
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tfforge::Error& e) {
      py::dict kw;
      if (!e.path.empty()) kw["path"] = lenient(e.path);
      if (!e.node.empty()) kw["node"] = lenient(e.node);
      if (e.offset >= 0) kw["offset"] = e.offset;
      if (e.record >= 0) kw["record"] = e.record;
      raise(e.kind.c_str(), lenient(e.what()), kw);
    } catch (const tfforge::wire::ParseError& e) {
      py::dict kw;
      kw["offset"] = e.offset;
      raise("WireFormatError", lenient(std::string("malformed protobuf bytes: ") + e.what()), kw);
    }
  });
  auto& all = tfforge::py::binders();
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, bind] : all) bind(m);
}
