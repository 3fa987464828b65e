// tfforge._native.GraphDef: the graph engine's index, opened from a mapped file, a SavedModel or
// .meta container, or a Python buffer (zero-copy), with the edits and passes tfforge.graph needs.
#include <pybind11/stl.h>

#include <mutex>
#include <shared_mutex>
#include <type_traits>

#include "error.h"
#include "graph/containers.h"
#include "graph/events.h"
#include "graph/freeze.h"
#include "graph/graph_def.h"
#include "graph/mapped_file.h"
#include "graph/names.h"
#include "graph/passes.h"
#include "graph/tensor.h"
#include "python/buffer.h"
#include "python/graph_decode.h"
#include "python/registry.h"

namespace py = pybind11;
using namespace tfforge::graph;
using tfforge::Error;
namespace wire = tfforge::wire;

namespace {

using GraphPtr = std::shared_ptr<GraphDef>;

// Every method runs under the graph's lock: shared for readers, exclusive for edits. The lock is
// taken with the GIL released (a thread holding it may be waiting for the GIL), and never held
// while waiting for the GIL. Readers check the mapped files they read from before returning.
template <typename F>
auto reading(const GraphDef& g, F&& body) -> decltype(body()) {
  std::shared_lock<std::shared_mutex> lock(g.guard.mutex, std::defer_lock);
  {
    py::gil_scoped_release release;
    lock.lock();
  }
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      g.check_sources();
    } else {
      auto result = body();
      g.check_sources();
      return result;
    }
  } catch (...) {
    g.check_sources();
    throw;
  }
}

template <typename F>
auto editing(GraphDef& g, F&& body) -> decltype(body()) {
  std::unique_lock<std::shared_mutex> lock(g.guard.mutex, std::defer_lock);
  {
    py::gil_scoped_release release;
    lock.lock();
  }
  return body();
}

// Keeps a Python buffer alive for as long as the graph (and its copies) refer to its bytes.
std::shared_ptr<const void> hold_buffer(const py::object& obj, Span* span) {
  auto* view = new tfforge::py::ByteView(tfforge::py::byte_view(obj));
  *span = Span{view->data(), view->size()};
  return std::shared_ptr<const void>(view, [](const tfforge::py::ByteView* v) {
    py::gil_scoped_acquire gil;
    delete v;
  });
}

const Node& node_at(const GraphDef& g, const std::string& name) {
  int64_t i = g.find(name);
  if (i < 0) throw Error("GraphError", "no such node in the graph").at_node(name).at_path(g.source().path);
  return g.nodes[size_t(i)];
}

Node& node_at(GraphDef& g, const std::string& name) {
  return const_cast<Node&>(node_at(const_cast<const GraphDef&>(g), name));
}

const Attr& attr_at(const GraphDef& g, const std::string& node, const std::string& key) {
  const Attr* a = node_at(g, node).attr(key);
  if (!a) throw Error("GraphError", "node has no attribute '" + key + "'").at_node(node).at_path(g.source().path);
  return *a;
}

// The TensorProto inside a node's AttrValue.tensor (`scratch` holds it when the attr has a tail).
Span tensor_of(const GraphDef& g, const std::string& node, const std::string& key, std::string* scratch) {
  wire::Reader r(attr_bytes(attr_at(g, node, key), scratch));
  uint32_t f;
  wire::WireType w;
  Span tensor;
  while (r.next(&f, &w)) {
    if (f == kAttrTensor && w == wire::kLengthDelimited) tensor = r.bytes();
    else r.skip(w);
  }
  if (!tensor.data) throw Error("GraphError", "attribute '" + key + "' holds no tensor").at_node(node);
  return tensor;
}

py::str lenient_str(const std::string& s);

py::tuple meta_result(const GraphPtr& g, const MetaGraphView& v) {
  py::list tags;
  for (auto& t : v.tags) tags.append(lenient_str(t));
  std::string header = v.header();
  return py::make_tuple(g, py::bytes(header), tags);
}

py::str lenient_str(const std::string& s) {
  return py::reinterpret_steal<py::str>(PyUnicode_DecodeUTF8(s.data(), Py_ssize_t(s.size()), "backslashreplace"));
}

GraphPtr parse_graph(Span bytes, std::shared_ptr<const void> keep, Source src) {
  py::gil_scoped_release release;
  return std::make_shared<GraphDef>(GraphDef::parse(bytes, std::move(keep), std::move(src)));
}

// A graph over a mapped file: parse errors caused by the file changing meanwhile say so.
GraphPtr parse_mapped(const std::shared_ptr<MappedFile>& f, Span bytes, Source src) {
  GraphPtr g = guarded_read(*f, [&] { return parse_graph(bytes, f, std::move(src)); });
  g->watch(f);
  return g;
}

py::object shape_object(const Shape& s) {
  return s.unknown_rank ? py::object(py::none()) : py::object(py::tuple(py::cast(s.dims)));
}

// An attr with a tail is a spliced tensor: its kind is known without joining head and tail.
uint32_t kind_of(const Attr& a) { return a.tail.size ? uint32_t(kAttrTensor) : attr_kind(a.value); }

}  // namespace

TFFORGE_BINDINGS(graph) {
  py::class_<GraphDef, GraphPtr>(m, "GraphDef", "A GraphDef indexed over its wire bytes (see cc/graph/graph_def.h). "
                                 "Safe to share between threads: readers run together, edits one at a time.")
      .def("__len__", [](const GraphDef& g) { return reading(g, [&] { return g.nodes.size(); }); })
      .def("copy", [](const GraphDef& g) { return reading(g, [&] { return std::make_shared<GraphDef>(g); }); })
      .def("path", [](const GraphDef& g) { return g.source().path; })
      .def("nodes", [](const GraphDef& g) {
        return reading(g, [&] {
          py::list out;
          for (auto& n : g.nodes) out.append(py::make_tuple(n.name, n.op, n.inputs, n.device));
          return out;
        });
      }, "[(name, op, inputs, device)] in graph order")
      .def("find", [](const GraphDef& g, const std::string& name) { return reading(g, [&] { return g.find(name); }); })
      .def("attr_kinds", [](const GraphDef& g, const std::string& node) {
        return reading(g, [&] {
          py::list out;
          for (auto& a : node_at(g, node).attrs) out.append(py::make_tuple(a.key, kind_of(a)));
          return out;
        });
      }, "[(key, AttrValue oneof field number)]")
      .def("attr_value", [](const GraphDef& g, const std::string& node, const std::string& key) {
        return reading(g, [&] {
          std::string scratch;
          return tfforge::py::decode_message("tensorflow.AttrValue", attr_bytes(attr_at(g, node, key), &scratch));
        });
      }, "The AttrValue decoded into a dict")
      .def("attr_bytes", [](const GraphDef& g, const std::string& node, const std::string& key) {
        return reading(g, [&] {
          std::string scratch;
          Span v = attr_bytes(attr_at(g, node, key), &scratch);
          return py::bytes(reinterpret_cast<const char*>(v.data), v.size);
        });
      })
      .def("tensor_info", [](const GraphDef& g, const std::string& node, const std::string& key) {
        return reading(g, [&] {
          std::string scratch;
          TensorView t = parse_tensor(tensor_of(g, node, key, &scratch));
          return py::make_tuple(t.dtype, shape_object(t.shape), tensor_payload_bytes(t));
        });
      }, "(dtype, shape, payload bytes) of a tensor attr, without copying it")
      .def("tensor", [](const GraphDef& g, const std::string& node, const std::string& key) {
        return reading(g, [&] {
          std::string scratch;
          Span tensor_bytes = tensor_of(g, node, key, &scratch);
          TensorView t = parse_tensor(tensor_bytes);
          py::dict out;
          out["dtype"] = t.dtype;
          out["shape"] = shape_object(t.shape);
          if (t.has_content) {
            out["content"] = py::bytes(reinterpret_cast<const char*>(t.content.data), t.content.size);
          } else {
            py::dict decoded = tfforge::py::decode_message("tensorflow.TensorProto", tensor_bytes);
            decoded.attr("pop")("dtype", py::none());
            decoded.attr("pop")("tensor_shape", py::none());
            decoded.attr("pop")("version_number", py::none());
            out["values"] = decoded;
          }
          return out;
        });
      }, "A tensor attr: {dtype, shape, content (bytes) | values (dict of *_val lists)}")
      .def("const_stats", [](const GraphDef& g) {
        return reading(g, [&] {
          py::list out;
          for (auto& n : g.nodes) {
            if (n.op != "Const") continue;
            const Attr* a = n.attr("value");
            if (!a) continue;
            std::string scratch;
            wire::Reader r(attr_bytes(*a, &scratch));
            uint32_t f;
            wire::WireType w;
            while (r.next(&f, &w)) {
              if (f != kAttrTensor || w != wire::kLengthDelimited) { r.skip(w); continue; }
              TensorView t = parse_tensor(r.bytes());
              out.append(py::make_tuple(n.name, t.dtype, shape_object(t.shape), t.shape.num_elements(), tensor_payload_bytes(t)));
            }
          }
          return out;
        });
      }, "[(name, dtype, shape, num_elements, payload bytes)] of Const nodes, without copying tensors")
      .def("library_functions", [](const GraphDef& g) {
        return reading(g, [&] {
          std::vector<std::string> out;
          for (auto& f : g.library.functions) out.push_back(f.name);
          return out;
        });
      })
      .def("called_functions", [](const GraphDef& g) {
        return reading(g, [&] { return called_functions(g, std::vector<bool>(g.nodes.size(), true)); });
      }, "Library functions the nodes call, transitively")
      .def("function_bytes", [](const GraphDef& g, const std::string& name) {
        return reading(g, [&] {
          for (auto& f : g.library.functions)
            if (f.name == name) return py::bytes(reinterpret_cast<const char*>(f.raw.data), f.raw.size);
          throw Error("GraphError", "no library function named '" + name + "'");
        });
      })
      .def("encoded_size", [](const GraphDef& g) { return reading(g, [&] { return g.encoded_size(); }); })
      .def("to_bytes", [](const GraphDef& g) {
        return reading(g, [&] {
          uint64_t n = g.encoded_size();
          PyObject* b = PyBytes_FromStringAndSize(nullptr, Py_ssize_t(n));
          if (!b) throw py::error_already_set();
          auto out = py::reinterpret_steal<py::bytes>(b);
          {
            py::gil_scoped_release release;
            g.encode_to(reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(b)));
          }
          return out;
        });
      })
      .def("save", [](const GraphDef& g, const std::string& path, std::optional<bool> direct) {
        reading(g, [&] {
          py::gil_scoped_release release;
          g.write_file(path, direct);
        });
      }, py::arg("path"), py::arg("direct") = py::none(),
         "Writes the GraphDef to path atomically (direct: O_DIRECT writes; None: when many weights are streamed)")
      .def("apply", [](const GraphDef& g, const std::string& transforms, std::vector<std::string> inputs,
                       std::vector<std::string> outputs) {
        auto specs = parse_transforms(transforms);
        return reading(g, [&] {
          auto out = std::make_shared<GraphDef>(g);
          py::gil_scoped_release release;
          apply_passes(*out, specs, PassContext{std::move(inputs), std::move(outputs)});
          return out;
        });
      }, py::arg("transforms"), py::arg("inputs"), py::arg("outputs"), "Runs native passes on a copy")
      .def("check", [](const GraphDef& g) { reading(g, [&] { topological_order(g); }); },
           "Raises GraphError for missing inputs, duplicate names or cycles")
      .def("execution_order", [](const GraphDef& g) {
        return reading(g, [&] {
          std::vector<std::string> out;
          for (size_t i : topological_order(g)) out.push_back(g.nodes[i].name);
          return out;
        });
      })
      .def("replace_with_const", [](GraphDef& g, const std::string& name, int dtype, std::vector<int64_t> dims,
                                    const py::object& data, bool borrow) {
        Span content;
        std::shared_ptr<const void> owner = hold_buffer(data, &content);
        editing(g, [&] {
          py::gil_scoped_release release;
          replace_with_const(g, name, dtype, dims, content, borrow ? owner : nullptr);
        });
      }, py::arg("name"), py::arg("dtype"), py::arg("dims"), py::arg("data"), py::arg("borrow") = false,
         "Makes node `name` a Const of the buffer's bytes; borrow=True keeps the buffer and writes from it "
         "without copying (it must not change while the graph lives)")
      .def("replace_with_stored_const", [](GraphDef& g, const std::string& name, int dtype, std::vector<int64_t> dims,
                                           std::shared_ptr<StoredBytes> stored) {
        editing(g, [&] { replace_with_stored_const(g, name, dtype, dims, std::move(stored)); });
      }, py::arg("name"), py::arg("dtype"), py::arg("dims"), py::arg("stored"),
         "Makes node `name` a Const whose bytes stay in a file range (StoredBytes) until the graph is written")
      .def("replace_with_string_const", [](GraphDef& g, const std::string& name, std::vector<int64_t> dims,
                                           std::vector<std::string> values) {
        editing(g, [&] { replace_with_string_const(g, name, dims, values); });
      })
      .def("rewrite_variable_readers", [](GraphDef& g, std::vector<std::pair<std::string, int>> frozen) {
        editing(g, [&] { rewrite_variable_readers(g, frozen); });
      }, py::arg("frozen"), "[(variable node, dtype)] now Consts: their readers become plain ops (cc/graph/freeze.h)")
      .def("rename_nodes", [](GraphDef& g, std::unordered_map<std::string, std::string> renames) {
        editing(g, [&] {
          for (auto& [from, to] : renames) {
            if (g.find(from) < 0) throw Error("GraphError", "no such node in the graph").at_node(from);
            if (g.find(to) >= 0 && !renames.count(to)) throw Error("GraphError", "a node of this name exists already").at_node(to);
          }
          rename_nodes(g, renames);
        });
      }, py::arg("renames"), "Renames nodes and every reference to them (inputs, colocation)")
      .def("add_identity", [](GraphDef& g, const std::string& name, const std::string& input, int dtype) {
        editing(g, [&] { add_identity(g, name, input, dtype); });
      }, py::arg("name"), py::arg("input"), py::arg("dtype"));

  m.def("graph_from_file", [](const std::string& path) {
    auto f = MappedFile::open(path);
    return parse_mapped(f, f->span(), Source{path, 0});
  }, py::arg("path"), "Memory-maps a GraphDef .pb and indexes it");
  m.def("graph_from_buffer", [](const py::object& data, const std::string& path) {
    Span s;
    auto keep = hold_buffer(data, &s);
    return parse_graph(s, std::move(keep), Source{path, 0});
  }, py::arg("data"), py::arg("path") = "", "Indexes GraphDef wire bytes without copying them");
  m.def("meta_graph_from_file", [](const std::string& path) {
    auto f = MappedFile::open(path);
    MetaGraphView v = guarded_read(*f, [&] { return view_meta_graph(f->span(), Source{path, 0}); });
    auto g = parse_mapped(f, v.graph_def, Source{path, uint64_t(v.graph_def.data - f->span().data)});
    return meta_result(g, v);
  }, py::arg("path"), "A TF1 .meta file: (GraphDef, MetaGraphDef without graph_def, tags)");
  m.def("meta_graph_from_buffer", [](const py::object& data, const std::string& path) {
    Span s;
    auto keep = hold_buffer(data, &s);
    MetaGraphView v = view_meta_graph(s, Source{path, 0});
    auto g = parse_graph(v.graph_def, keep, Source{path, uint64_t(v.graph_def.data - s.data)});
    return meta_result(g, v);
  }, py::arg("data"), py::arg("path") = "");
  m.def("saved_model_graphs", [](const py::object& source, const std::string& path) {
    py::list out;
    if (py::isinstance<py::str>(source)) {
      auto f = MappedFile::open(source.cast<std::string>());
      Span s = f->span();
      auto views = guarded_read(*f, [&] { return view_saved_model(s, Source{path, 0}); });
      for (auto& v : views)
        out.append(meta_result(parse_mapped(f, v.graph_def, Source{path, uint64_t(v.graph_def.data - s.data)}), v));
      return out;
    }
    Span s;
    auto keep = hold_buffer(source, &s);
    for (auto& v : view_saved_model(s, Source{path, 0}))
      out.append(meta_result(parse_graph(v.graph_def, keep, Source{path, uint64_t(v.graph_def.data - s.data)}), v));
    return out;
  }, py::arg("source"), py::arg("path"), "Every meta graph of a SavedModel file: [(GraphDef, header, tags)]");
  m.def("meta_graph_with_graph", [](const py::object& header, const GraphDef& g) {
    auto view = tfforge::py::byte_view(header);
    return reading(g, [&] { return py::bytes(replace_graph_def(Span{view.data(), view.size()}, g)); });
  }, "MetaGraphDef bytes: `header` with graph_def set to the graph");
  m.def("parse_transforms", [](const std::string& text) {
    py::list out;
    for (auto& s : parse_transforms(text)) out.append(py::make_tuple(s.name, s.args.items));
    return out;
  }, "transform_graph --transforms syntax -> [(name, [(key, value)])]");
  m.def("native_passes", &pass_names);
  m.def("write_graph_events", [](const GraphDef& g, const std::string& path, double wall_time) {
    reading(g, [&] {
      py::gil_scoped_release release;
      write_graph_events(g, path, wall_time);
    });
  }, py::arg("graph"), py::arg("path"), py::arg("wall_time"), "A TensorBoard events file holding the graph");
}
