// tfforge._native: the binding module. It links neither TensorFlow nor libprotobuf.
#include <pybind11/pybind11.h>

#include <algorithm>

#include "error.h"
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
  // tfforge::Error carries the name of its Python class in tfforge.errors.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const tfforge::Error& e) {
      py::gil_scoped_acquire gil;
      py::object errors = py::module_::import("tfforge.errors");
      py::object cls = py::hasattr(errors, e.kind.c_str()) ? errors.attr(e.kind.c_str()) : errors.attr("TfforgeError");
      py::dict kw;
      if (!e.path.empty()) kw["path"] = e.path;
      if (!e.node.empty()) kw["node"] = e.node;
      if (e.offset >= 0) kw["offset"] = e.offset;
      if (e.record >= 0) kw["record"] = e.record;
      py::object exc = cls(e.what(), **kw);
      PyErr_SetObject(cls.ptr(), exc.ptr());
    }
  });
  auto& all = tfforge::py::binders();
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, bind] : all) bind(m);
}
