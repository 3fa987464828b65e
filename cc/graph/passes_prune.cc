// strip_unused_nodes, as transform_graph runs it: keep the listed outputs, the listed inputs (even
// when no output needs them) and everything the outputs reach through data and control inputs without
// passing an input, in the original order. An input that is not a Placeholder becomes one with
// dtype/shape from type= / shape= (name= with type_for_name= / shape_for_name= per node), float and
// scalar by default, exactly TensorFlow's attributes; a Placeholder input is kept as it is.
// tfforge additions that TensorFlow rejects as arguments, so no TensorFlow command line changes
// meaning: type=auto / shape=auto take the node's own dtype (dtype or T attr) and shape (shape or
// _output_shapes attr, unknown when absent), and shape dims may be -1 (unknown). Library functions that
// no kept node calls are dropped unless keep_library=true (TensorFlow keeps the whole library).
#include <deque>

#include "error.h"
#include "graph/names.h"
#include "graph/passes.h"
#include "graph/tensor.h"

namespace tfforge::graph {

namespace {

// TensorShapeFromString: comma-separated integers, spaces around them allowed.
Shape parse_shape_arg(const std::string& s) {
  if (s.empty()) throw Error("TransformError", "Specified shape is empty.");
  Shape shape;
  size_t i = 0;
  while (true) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string d = s.substr(i, j - i);
    size_t b = d.find_first_not_of(" \t"), e = d.find_last_not_of(" \t");
    d = b == std::string::npos ? "" : d.substr(b, e - b + 1);
    size_t pos = 0;
    long long v = 0;
    try {
      v = std::stoll(d, &pos);
    } catch (const std::exception&) {
      pos = 0;
    }
    if (d.empty() || pos != d.size() || v < -1) throw Error("TransformError", "Could parse as shape: '" + s + "'");
    shape.dims.push_back(v);
    if (j == s.size()) break;
    i = j + 1;
  }
  return shape;
}

// AttrValue.shape (7), and the first shape of AttrValue.list (1 -> shape 7); empty spans when absent.
Span attr_shape_span(Span attr_value) {
  wire::Reader r(attr_value);
  uint32_t f;
  wire::WireType t;
  Span out{};
  while (r.next(&f, &t)) {
    if (f == kAttrShape && t == wire::kLengthDelimited) out = r.bytes();
    else r.skip(t);
  }
  return out;
}

Span attr_list_first_shape(Span attr_value) {
  wire::Reader r(attr_value);
  uint32_t f;
  wire::WireType t;
  while (r.next(&f, &t)) {
    if (f == kAttrList && t == wire::kLengthDelimited) {
      wire::Reader lr(r.bytes());
      while (lr.next(&f, &t)) {
        if (f == 7 && t == wire::kLengthDelimited) return lr.bytes();
        lr.skip(t);
      }
    } else {
      r.skip(t);
    }
  }
  return Span{};
}

// The shape a node already declares: its shape attr (Placeholder-like ops) or its first _output_shapes.
Shape declared_shape(const Node& n) {
  if (const Attr* a = n.attr("shape")) {
    if (attr_kind(a->value) == kAttrShape) return parse_shape(attr_shape_span(a->value));
  }
  if (const Attr* a = n.attr("_output_shapes")) {
    Span first = attr_list_first_shape(a->value);
    if (first.data) return parse_shape(first);
  }
  Shape unknown;
  unknown.unknown_rank = true;
  return unknown;
}

int declared_dtype(const Node& n) {
  for (const char* key : {"dtype", "T"})
    if (const Attr* a = n.attr(key)) {
      int v = attr_type_value(a->value);
      if (v > 0) return v;
    }
  throw Error("TransformError", "type=auto: the node has no dtype or T attribute to take its type from").at_node(n.name);
}

int type_from_string(const std::string& type, const Node& n) {
  if (type == "auto") return declared_dtype(n);
  int dtype;
  if (!parse_dtype(type, &dtype)) throw Error("TransformError", "Couldn't understand type argument '" + type + "'");
  return dtype;
}

// TypeForPlaceholder / ShapeForPlaceholder of transform_graph: the global argument, then the per-name
// one (name= and type_for_name= / shape_for_name= must come in equal numbers once either is used).
void placeholder_spec(const Node& n, const PassArgs& args, int* dtype, Shape* shape) {
  *dtype = 1;  // DT_FLOAT
  if (args.has("type")) {
    if (args.count("type") != 1)
      throw Error("TransformError", "You must pass no more than one default 'type' to strip_unused_nodes");
    *dtype = type_from_string(args.one("type"), n);
  }
  auto names = args.all("name");
  if (args.has("name") || args.has("type_for_name")) {
    auto types = args.all("type_for_name");
    if (types.size() != names.size() || names.empty())
      throw Error("TransformError", "You must pass a 'type_for_name' arg for every 'name', e.g. "
                                    "strip_unused_nodes(name=foo, type_for_name=float, name=bar, type_for_name=quint8");
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == n.name) *dtype = type_from_string(types[i], n);
  }
  *shape = Shape{};  // a scalar
  auto shape_from = [&](const std::string& text) { return text == "auto" ? declared_shape(n) : parse_shape_arg(text); };
  if (args.has("shape")) {
    if (args.count("shape") != 1)
      throw Error("TransformError", "You must pass no more than one default 'shape' to strip_unused_nodes");
    *shape = shape_from(args.one("shape"));
  }
  if (args.has("name") || args.has("shape_for_name")) {
    auto shapes = args.all("shape_for_name");
    if (shapes.size() != names.size() || names.empty())
      throw Error("TransformError", "You must pass a 'shape_for_name' arg for every 'name', e.g. "
                                    "strip_unused_nodes(name=foo, shape_for_name=\"2,2,1\", name=bar, shape_for_name=\"1\"");
    for (size_t i = 0; i < names.size(); ++i)
      if (names[i] == n.name) *shape = shape_from(shapes[i]);
  }
}

}  // namespace

TFFORGE_GRAPH_PASS(strip_unused_nodes) {
  if (ctx.outputs.empty()) throw Error("TransformError", "strip_unused_nodes needs --outputs");
  bool keep_library = args.one_bool("keep_library", false);
  auto& idx = g.index();
  std::vector<bool> is_input(g.nodes.size(), false), keep(g.nodes.size(), false);
  std::deque<size_t> todo;
  auto mark = [&](size_t i) {
    if (!keep[i]) { keep[i] = true; todo.push_back(i); }
  };
  for (auto& name : ctx.inputs) {
    auto it = idx.find(input_node_name(name));
    if (it == idx.end()) throw Error("GraphError", "input node is not in the graph").at_node(name).at_path(g.source().path);
    is_input[it->second] = true;
  }
  for (auto& name : ctx.outputs) {
    auto it = idx.find(input_node_name(name));
    if (it == idx.end()) throw Error("GraphError", "output node is not in the graph").at_node(name).at_path(g.source().path);
    mark(it->second);
  }
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (is_input[i]) keep[i] = true;  // kept even when no output needs it; its inputs are not followed
  while (!todo.empty()) {
    size_t i = todo.front();
    todo.pop_front();
    if (is_input[i]) continue;
    for (auto& in : g.nodes[i].inputs) {
      auto it = idx.find(input_node_name(in));
      if (it == idx.end())
        throw Error("GraphError", "input '" + in + "' names a node that is not in the graph")
            .at_node(g.nodes[i].name).at_path(g.source().path);
      mark(it->second);
    }
  }
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!is_input[i] || g.nodes[i].op == "Placeholder") continue;  // a Placeholder input keeps its bytes
    Node& n = g.nodes[i];
    int dtype;
    Shape shape;
    placeholder_spec(n, args, &dtype, &shape);
    Node p;
    p.dirty = true;
    p.name = n.name;
    p.op = "Placeholder";
    p.attrs.push_back({"dtype", g.own(encode_type_attr(dtype))});
    p.attrs.push_back({"shape", g.own(encode_shape_attr(shape))});
    n = std::move(p);
  }
  keep_nodes(g, keep, keep_library);
}

}  // namespace tfforge::graph
