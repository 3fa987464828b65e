// Bindings of the freeze-time weight splicer (cc/graph/convert_splice.h).
#include <pybind11/stl.h>

#include "graph/convert_splice.h"
#include "python/buffer.h"
#include "python/registry.h"

namespace py = pybind11;
using tfforge::py::byte_view;

TFFORGE_BINDINGS(convert) {
  m.def(
      "splice_consts_to_file",
      [](const py::object& graph, const std::vector<std::tuple<std::string, int, std::vector<int64_t>, py::object>>& consts,
         const std::string& path) {
        auto graph_view = byte_view(graph);
        std::vector<tfforge::py::ByteView> views;
        std::vector<tfforge::convert::ConstPayload> payloads;
        views.reserve(consts.size());
        for (const auto& [node, dtype, shape, buffer] : consts) {
          views.push_back(byte_view(buffer));
          tfforge::convert::ConstPayload p;
          p.node = node;
          p.dtype = dtype;
          p.shape = shape;
          p.data = views.back().data();
          p.size = views.back().size();
          payloads.push_back(std::move(p));
        }
        py::gil_scoped_release release;
        return tfforge::convert::splice_consts_to_file(graph_view.data(), graph_view.size(), payloads, path);
      },
      py::arg("graph"), py::arg("consts"), py::arg("path"),
      "Writes the serialized GraphDef `graph` to `path`, appending to each node named in `consts` "
      "(a list of (node, dtype enum, shape, buffer)) a `value` attr whose tensor_content is the buffer's "
      "bytes. Atomic (temporary name + rename). Returns the bytes written.");
}
