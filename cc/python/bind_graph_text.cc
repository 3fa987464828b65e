// Text format bindings: binary <-> text for GraphDef, MetaGraphDef and SavedModel, file to file
// (memory-mapped input, atomic output) or in memory.
#include "error.h"
#include "graph/mapped_file.h"
#include "graph/schema.h"
#include "graph/sink.h"
#include "graph/text_format.h"
#include "python/buffer.h"
#include "python/registry.h"

namespace py = pybind11;
using namespace tfforge::graph;
namespace wire = tfforge::wire;

namespace {

const schema::MessageDef& message_named(const std::string& name) {
  const schema::MessageDef* m = schema::message(name);
  if (!m) throw py::value_error("unknown message type " + name);
  return *m;
}

}  // namespace

TFFORGE_BINDINGS(graph_text) {
  m.def("text_file_to_binary", [](const std::string& message, const std::string& src, const std::string& dst) {
    const auto& m = message_named(message);
    py::gil_scoped_release release;
    auto f = MappedFile::open(src);
    std::string bytes = guarded_read(*f, [&] { return parse_text(m, f->span(), src); });
    AtomicFileSink sink(dst);
    sink.reserve(bytes.size());
    sink.put(bytes.data(), bytes.size());
    sink.commit();
  }, py::arg("message_type"), py::arg("src"), py::arg("dst"));
  m.def("binary_file_to_text", [](const std::string& message, const std::string& src, const std::string& dst) {
    const auto& m = message_named(message);
    py::gil_scoped_release release;
    auto f = MappedFile::open(src);
    guarded_read(*f, [&] {
      AtomicFileSink sink(dst);
      print_text(m, f->span(), sink, src);
      f->check();  // never commit text printed from a file that changed meanwhile
      sink.commit();
    });
  }, py::arg("message_type"), py::arg("src"), py::arg("dst"));
  m.def("parse_text", [](const std::string& message, const py::object& text, const std::string& path) {
    const auto& m = message_named(message);
    auto view = tfforge::py::byte_view(text);
    std::string out;
    {
      py::gil_scoped_release release;
      out = parse_text(m, wire::Span{view.data(), view.size()}, path);
    }
    return py::bytes(out);
  }, py::arg("message_type"), py::arg("text"), py::arg("path") = "", "text format -> wire bytes");
  m.def("parse_text_file", [](const std::string& message, const std::string& path) {
    const auto& m = message_named(message);
    std::string out;
    {
      py::gil_scoped_release release;
      auto f = MappedFile::open(path);
      out = guarded_read(*f, [&] { return parse_text(m, f->span(), path); });
    }
    return py::bytes(out);
  }, py::arg("message_type"), py::arg("path"));
  m.def("print_text", [](const std::string& message, const py::object& data, const std::string& path) {
    const auto& m = message_named(message);
    auto view = tfforge::py::byte_view(data);
    std::string out;
    {
      py::gil_scoped_release release;
      StringSink sink(&out);
      print_text(m, wire::Span{view.data(), view.size()}, sink, path);
    }
    return py::bytes(out);
  }, py::arg("message_type"), py::arg("data"), py::arg("path") = "", "wire bytes -> text format");
}
