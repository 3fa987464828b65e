// tfforge._native.fuse: the fusion passes (cc/graph/fuse.h) on a copy of a graph, with the report of
// every candidate site, fused or not and why, for `tfforge optimize` and its --explain.
#include <pybind11/stl.h>

#include <mutex>
#include <shared_mutex>

#include "error.h"
#include "graph/fuse.h"
#include "graph/sink.h"
#include "python/buffer.h"
#include "python/registry.h"

namespace py = pybind11;
using namespace tfforge::graph;

TFFORGE_BINDINGS(graph_fuse) {
  m.def("fuse", [](const GraphDef& g, const std::vector<std::string>& patterns, std::vector<std::string> outputs) {
    using Pass = void (*)(GraphDef&, const PassContext&, std::vector<fuse::Site>*);
    std::vector<Pass> passes;
    for (auto& p : patterns) {
      if (p == "layer_norm") passes.push_back(fuse::fuse_layer_norm);
      else if (p == "rms_norm") passes.push_back(fuse::fuse_rms_norm);
      else if (p == "bias_gelu") passes.push_back(fuse::fuse_bias_gelu);
      else if (p == "projection") passes.push_back(fuse::fuse_projection);
      else if (p == "attention") passes.push_back(fuse::fuse_attention);
      else throw tfforge::Error("TransformError", "unknown fusion pattern '" + p + "' (layer_norm, rms_norm, bias_gelu, projection, attention)");
    }
    std::shared_ptr<GraphDef> out;
    std::vector<fuse::Site> report;
    {
      py::gil_scoped_release release;
      std::shared_lock<std::shared_mutex> lock(g.guard.mutex);
      out = std::make_shared<GraphDef>(g);
      PassContext ctx{{}, std::move(outputs)};
      try {
        for (auto pass : passes) {
          pass(*out, ctx, &report);
          out->invalidate_index();
        }
        g.check_sources();
      } catch (...) {
        g.check_sources();
        throw;
      }
    }
    // names and equations come from the graph's bytes, which need not be UTF-8
    auto text = [](const std::string& v) {
      return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(v.data(), Py_ssize_t(v.size()), "replace"));
    };
    py::list sites;
    for (auto& s : report) {
      py::dict d;
      d["pattern"] = s.pattern;
      d["function"] = text(s.function);
      d["anchor"] = text(s.anchor);
      d["output"] = text(s.output);
      d["fused"] = s.fused;
      d["reason"] = text(s.reason);
      d["detail"] = text(s.detail);
      sites.append(d);
    }
    return py::make_tuple(out, sites);
  }, py::arg("graph"), py::arg("patterns"), py::arg("outputs"),
  "Runs the fusion passes on a copy: (GraphDef, [site dicts]) with every candidate site, fused or not");

  // SavedModel{saved_model_schema_version = 1, meta_graphs = 2}: every field as it was, the n-th
  // meta graph replaced by the n-th of `meta_graphs`.
  m.def("saved_model_with_meta_graphs", [](const py::object& file, const std::vector<py::bytes>& meta_graphs) {
    auto view = tfforge::py::byte_view(file);
    std::vector<std::string> metas(meta_graphs.begin(), meta_graphs.end());
    std::string out;
    StringSink sink(&out);
    tfforge::wire::Reader r(Span{view.data(), view.size()});
    uint32_t f;
    tfforge::wire::WireType t;
    size_t i = 0;
    try {
      for (const uint8_t* start = r.cursor(); r.next(&f, &t); start = r.cursor()) {
        r.skip(t);
        if (f == 2 && t == tfforge::wire::kLengthDelimited && i < metas.size()) sink.string_field(2, metas[i++]);
        else sink.put(start, size_t(r.cursor() - start));
      }
    } catch (const tfforge::wire::ParseError& e) {
      throw tfforge::Error("WireFormatError", std::string("malformed SavedModel: ") + e.what()).at_offset(int64_t(e.offset));
    }
    if (i != metas.size()) throw tfforge::Error("GraphError", "the SavedModel holds fewer meta graphs than given");
    return py::bytes(out);
  }, py::arg("file"), py::arg("meta_graphs"));
}
