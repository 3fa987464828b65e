// strip_unused_nodes: keep what the outputs need. Same reachability as TensorFlow's
// graph_util.extract_sub_graph (data and control inputs, original node order); traversal stops at
// the given inputs, which become Placeholders (type= / shape= / name= type_for_name= shape_for_name=
// as in transform_graph).
#include <deque>

#include "error.h"
#include "graph/names.h"
#include "graph/passes.h"
#include "graph/tensor.h"

namespace tfforge::graph {

namespace {

Shape parse_shape_arg(const std::string& s) {
  Shape shape;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string d = s.substr(i, j - i);
    try {
      shape.dims.push_back(std::stoll(d));
    } catch (const std::exception&) {
      throw Error("TransformError", "shape argument '" + s + "' is not a comma-separated list of integers");
    }
    i = j + 1;
  }
  return shape;
}

// Type and shape a new Placeholder gets: per-name arguments, then the global ones, then the node's own.
void placeholder_spec(const Node& n, const PassArgs& args, int* dtype, bool* has_shape, Shape* shape) {
  std::string type = args.get("type"), shape_arg = args.get("shape");
  *has_shape = args.has("shape");
  auto names = args.all("name"), types = args.all("type_for_name"), shapes = args.all("shape_for_name");
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == n.name) {
      if (i < types.size()) type = types[i];
      if (i < shapes.size()) { shape_arg = shapes[i]; *has_shape = true; }
    }
  *dtype = 1;  // DT_FLOAT, transform_graph's default
  if (!type.empty()) {
    if (!parse_dtype(type, dtype)) throw Error("TransformError", "unknown type '" + type + "'");
  } else if (const Attr* a = n.attr("dtype")) {
    int v = attr_type_value(a->value);
    if (v > 0) *dtype = v;
  } else if (const Attr* t = n.attr("T")) {
    int v = attr_type_value(t->value);
    if (v > 0) *dtype = v;
  }
  if (*has_shape) *shape = parse_shape_arg(shape_arg);
}

}  // namespace

TFFORGE_GRAPH_PASS(strip_unused_nodes) {
  if (ctx.outputs.empty()) throw Error("TransformError", "strip_unused_nodes needs --outputs");
  auto& idx = g.index();
  std::vector<bool> is_input(g.nodes.size(), false), keep(g.nodes.size(), false);
  for (auto& name : ctx.inputs) {
    auto it = idx.find(input_node_name(name));
    if (it == idx.end()) throw Error("GraphError", "input node is not in the graph").at_node(name).at_path(g.source().path);
    is_input[it->second] = true;
  }
  std::deque<size_t> todo;
  for (auto& name : ctx.outputs) {
    auto it = idx.find(input_node_name(name));
    if (it == idx.end()) throw Error("GraphError", "output node is not in the graph").at_node(name).at_path(g.source().path);
    if (!keep[it->second]) { keep[it->second] = true; todo.push_back(it->second); }
  }
  while (!todo.empty()) {
    size_t i = todo.front();
    todo.pop_front();
    if (is_input[i]) continue;
    for (auto& in : g.nodes[i].inputs) {
      auto it = idx.find(input_node_name(in));
      if (it == idx.end())
        throw Error("GraphError", "input '" + in + "' names a node that is not in the graph")
            .at_node(g.nodes[i].name).at_path(g.source().path);
      if (!keep[it->second]) { keep[it->second] = true; todo.push_back(it->second); }
    }
  }
  bool custom = args.has("type") || args.has("shape") || args.has("name");
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!keep[i] || !is_input[i]) continue;
    Node& n = g.nodes[i];
    if (n.op == "Placeholder" && !custom) continue;  // already what we want: keep its bytes
    int dtype;
    bool has_shape;
    Shape shape;
    placeholder_spec(n, args, &dtype, &has_shape, &shape);
    if (n.op == "Placeholder" && !has_shape) {
      if (const Attr* s = n.attr("shape")) { has_shape = true; shape = parse_shape(s->value); }
    }
    Node p;
    p.dirty = true;
    p.name = n.name;
    p.op = "Placeholder";
    p.attrs.push_back({"dtype", g.own(encode_type_attr(dtype))});
    if (has_shape) p.attrs.push_back({"shape", g.own(encode_shape_attr(shape))});
    n = std::move(p);
  }
  keep_nodes(g, keep);
}

}  // namespace tfforge::graph
