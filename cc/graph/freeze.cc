#include "graph/freeze.h"

#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "error.h"
#include "graph/names.h"
#include "graph/tensor.h"

namespace tfforge::graph {

namespace {

constexpr int kResource = 20;  // DT_RESOURCE
constexpr int kInt32 = 3;

size_t index_of(const GraphDef& g, const std::string& name) {
  int64_t i = g.find(name);
  if (i < 0) throw Error("GraphError", "no such node in the graph").at_node(name).at_path(g.source().path);
  return size_t(i);
}

Node const_node(GraphDef& g, const Node& old, int dtype, Span value, Span tail) {
  Node c;
  c.dirty = true;
  c.name = old.name;
  c.op = "Const";
  c.device = old.device;
  c.attrs.push_back({"dtype", g.own(encode_type_attr(dtype)), Span{}});
  c.attrs.push_back({"value", value, tail});
  return c;
}

const std::unordered_map<std::string, std::string>& ref_to_plain() {
  static const std::unordered_map<std::string, std::string> m = {
      {"RefEnter", "Enter"}, {"RefExit", "Exit"}, {"RefSwitch", "Switch"}, {"RefMerge", "Merge"},
      {"RefNextIteration", "NextIteration"}, {"RefIdentity", "Identity"}, {"RefSelect", "Select"}};
  return m;
}

bool passes_through(const std::string& op) {
  static const std::unordered_set<std::string> s = {"Identity", "Enter", "Exit", "Switch", "Merge",
                                                    "NextIteration", "IdentityN"};
  return s.count(op) > 0;
}

void set_type(GraphDef& g, Node& n, const char* key, int dtype) { n.set_attr(key, g.own(encode_type_attr(dtype))); }

int type_attr(const Node& n, const char* key) {
  const Attr* a = n.attr(key);
  return a && !a->tail.size ? attr_type_value(a->value) : -1;
}

// ResourceGather(resource, indices) -> GatherV2(params, indices, axis=0), batch_dims kept.
void to_gather(GraphDef& g, size_t i, int dtype, std::vector<Node>* added) {
  Node& n = g.nodes[i];
  int tindices = type_attr(n, "Tindices");
  const Attr* batch = n.attr("batch_dims");
  const Attr* cls = n.attr("_class");
  std::vector<Attr> attrs;
  if (cls) attrs.push_back(*cls);
  attrs.push_back({"Tparams", g.own(encode_type_attr(dtype)), Span{}});
  attrs.push_back({"Tindices", g.own(encode_type_attr(tindices > 0 ? tindices : kInt32)), Span{}});
  attrs.push_back({"Taxis", g.own(encode_type_attr(kInt32)), Span{}});
  if (batch) attrs.push_back(*batch);
  Node axis;
  axis.dirty = true;
  axis.name = n.name + "/frozen_axis";
  axis.op = "Const";
  axis.device = n.device;
  const int32_t zero = 0;
  axis.attrs.push_back({"dtype", g.own(encode_type_attr(kInt32)), Span{}});
  axis.attrs.push_back({"value", g.own(encode_tensor_attr(kInt32, {}, &zero, sizeof zero)), Span{}});
  std::vector<std::string> data, control;
  for (auto& in : n.inputs) (is_control_input(in) ? control : data).push_back(in);
  if (data.size() > 2) data.resize(2);
  data.push_back(axis.name);
  data.insert(data.end(), control.begin(), control.end());
  n.op = "GatherV2";
  n.attrs = std::move(attrs);
  n.inputs = std::move(data);
  n.dirty = true;
  added->push_back(std::move(axis));
}

}  // namespace

void replace_with_const(GraphDef& g, const std::string& name, int dtype, const std::vector<int64_t>& dims,
                        Span content, std::shared_ptr<const void> owner) {
  Node& n = g.nodes[index_of(g, name)];
  if (!owner) {
    n = const_node(g, n, dtype, g.own(encode_tensor_attr(dtype, dims, content.data, content.size)), Span{});
    return;
  }
  g.hold(std::move(owner));
  n = const_node(g, n, dtype, g.own(encode_tensor_attr_head(dtype, dims, content.size)), content);
}

void replace_with_stored_const(GraphDef& g, const std::string& name, int dtype, const std::vector<int64_t>& dims,
                               std::shared_ptr<const StoredBytes> stored) {
  Node& n = g.nodes[index_of(g, name)];
  const uint64_t size = stored->size();
  n = const_node(g, n, dtype, g.own(encode_tensor_attr_head(dtype, dims, size)), Span{nullptr, size_t(size)});
  n.attrs.back().stored = std::move(stored);
}

void replace_with_string_const(GraphDef& g, const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<std::string>& values) {
  Node& n = g.nodes[index_of(g, name)];
  n = const_node(g, n, 7, g.own(encode_string_tensor_attr(dims, values)), Span{});
}

void rewrite_variable_readers(GraphDef& g, const std::vector<std::pair<std::string, int>>& frozen) {
  struct Use {
    size_t node, input;
  };
  std::unordered_map<std::string, std::vector<Use>> users;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (size_t k = 0; k < g.nodes[i].inputs.size(); ++k) {
      const std::string& in = g.nodes[i].inputs[k];
      if (!is_control_input(in)) users[input_node_name(in)].push_back({i, k});
    }
  std::deque<std::pair<std::string, int>> queue(frozen.begin(), frozen.end());
  std::unordered_set<std::string> seen;
  for (auto& f : frozen) seen.insert(f.first);
  std::vector<Node> added;
  while (!queue.empty()) {
    auto [name, dtype] = queue.front();
    queue.pop_front();
    auto it = users.find(name);
    if (it == users.end()) continue;
    for (const Use& use : it->second) {
      Node& n = g.nodes[use.node];
      if (seen.count(n.name)) continue;
      const std::string op = n.op;
      if (op == "ReadVariableOp") {
        n.op = "Identity";
        n.erase_attr("dtype");
        set_type(g, n, "T", dtype);
      } else if (op == "ResourceGather") {
        to_gather(g, use.node, dtype, &added);
      } else if (op == "VariableShape") {
        n.op = "Shape";
        set_type(g, n, "T", dtype);
      } else if (ref_to_plain().count(op) || passes_through(op)) {
        auto plain = ref_to_plain().find(op);
        if (plain != ref_to_plain().end()) n.op = plain->second;
        n.dirty = true;
        if (op == "IdentityN") {  // only this output carries the variable
          const Attr* t = n.attr("T");
          std::vector<int> types = t ? attr_type_list(t->value) : std::vector<int>{};
          if (use.input < types.size()) {
            types[use.input] = dtype;
            n.set_attr("T", g.own(encode_type_list_attr(types)));
          }
          continue;
        }
        if (type_attr(n, "T") == kResource) {
          set_type(g, n, "T", dtype);
          n.erase_attr("_output_shapes");  // the handle's (scalar) shape, not the value's
        }
        seen.insert(n.name);
        queue.emplace_back(n.name, dtype);
      }
      // Anything else (Assign*, saver ops) is training-only: pruning drops it.
    }
  }
  for (auto& n : added) {
    if (g.find(n.name) >= 0) throw Error("GraphError", "a node of this name exists already").at_node(n.name);
    g.nodes.push_back(std::move(n));
    g.invalidate_index();
  }
}

void add_identity(GraphDef& g, const std::string& name, const std::string& input, int dtype) {
  if (g.find(name) >= 0) throw Error("GraphError", "a node of this name exists already").at_node(name);
  if (g.find(input_node_name(input)) < 0)
    throw Error("GraphError", "input '" + input + "' names a node that is not in the graph").at_node(name);
  Node n;
  n.dirty = true;
  n.name = name;
  n.op = "Identity";
  n.inputs.push_back(input);
  n.attrs.push_back({"T", g.own(encode_type_attr(dtype)), Span{}});
  g.nodes.push_back(std::move(n));
  g.invalidate_index();
}

}  // namespace tfforge::graph
