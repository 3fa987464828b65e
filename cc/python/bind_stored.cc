// Bindings of graph/stored_bytes.h: file ranges whose bytes a graph writer streams out (weights left in a
// checkpoint's data shard or a weights file until the frozen graph is written).
#include <pybind11/stl.h>

#include "graph/stored_bytes.h"
#include "python/registry.h"

namespace py = pybind11;
using tfforge::graph::SourceFile;
using tfforge::graph::StoredBytes;

TFFORGE_BINDINGS(stored) {
  py::class_<SourceFile, std::shared_ptr<SourceFile>>(m, "SourceFile", "An open read-only file and its state when opened.")
      .def(py::init([](const std::string& path, const std::string& error_kind) {
             py::gil_scoped_release release;
             return SourceFile::open(path, error_kind);
           }), py::arg("path"), py::arg("error_kind") = "ConversionError")
      .def_property_readonly("path", &SourceFile::path)
      .def_property_readonly("size", &SourceFile::size);

  py::class_<StoredBytes, std::shared_ptr<StoredBytes>>(
      m, "StoredBytes", "A range of a file, read (and CRC32C-checked when a CRC is given) only when written.")
      .def(py::init([](const std::shared_ptr<SourceFile>& file, uint64_t offset, uint64_t size, const std::string& what,
                       std::optional<uint32_t> crc32c) {
             return std::make_shared<StoredBytes>(file, offset, size, crc32c, what);
           }), py::arg("file"), py::arg("offset"), py::arg("size"), py::arg("what"), py::arg("crc32c") = py::none())
      .def_property_readonly("size", &StoredBytes::size)
      .def_property_readonly("offset", &StoredBytes::offset)
      .def_property_readonly("path", [](const StoredBytes& s) { return s.file().path(); })
      .def_property_readonly("what", &StoredBytes::what)
      .def("read", [](const StoredBytes& s) {
        std::string out;
        {
          py::gil_scoped_release release;
          s.append_to(&out);
        }
        return py::bytes(out);
      }, "All the bytes, checked as a writer checks them.");
}
