// Passes that edit node fields in place: devices, op names, node names, attributes, control inputs.
#include <algorithm>
#include <unordered_set>

#include "error.h"
#include "graph/names.h"
#include "graph/passes.h"

namespace tfforge::graph {

// Argument checks and messages follow transform_graph's passes (tensorflow/tools/graph_transforms).

TFFORGE_GRAPH_PASS(remove_device) {
  for (auto& n : g.nodes)
    if (!n.device.empty()) {
      n.device.clear();
      n.dirty = true;
    }
}

TFFORGE_GRAPH_PASS(set_device) {
  std::string device = args.one("device");
  bool if_default = args.one_bool("if_default", false);
  for (auto& n : g.nodes) {
    if (if_default && !n.device.empty()) continue;
    if (n.device != device) {
      n.device = device;
      n.dirty = true;
    }
  }
}

TFFORGE_GRAPH_PASS(rename_op) {
  const char* usage = "rename_op expects exactly one 'old_op_name' and 'new_op_name' argument, e.g. "
                      "rename_op(old_op_name=Mul, new_op_name=Multiply)";
  std::string from = args.exactly_one("old_op_name", usage), to = args.exactly_one("new_op_name", usage);
  for (auto& n : g.nodes)
    if (n.op == from) {
      n.op = to;
      n.dirty = true;
    }
}

// Unlike TensorFlow's rename_node, "loc:@old" colocation entries follow the rename (TensorFlow leaves
// them naming a node that no longer exists, which import_graph_def rejects).
TFFORGE_GRAPH_PASS(rename_node) {
  const char* usage = "rename_node expects exactly one 'old_node_name' and one 'new_node_name' argument, e.g. "
                      "rename_node(old_node_name=super/deep/output, new_node_name=output)";
  std::string from = args.exactly_one("old_node_name", usage), to = args.exactly_one("new_node_name", usage);
  if (g.find(to) >= 0) throw Error("TransformError", "rename_node: a node is already using " + to + " as name").at_node(to);
  rename_nodes(g, {{from, to}});
}

// tfforge's own pass (not in transform_graph): prefix=... is put before every node name.
TFFORGE_GRAPH_PASS(add_prefix) {
  std::string prefix = args.exactly_one("prefix", "add_prefix expects exactly one 'prefix' argument, e.g. add_prefix(prefix=net/)");
  std::unordered_map<std::string, std::string> renames;
  renames.reserve(g.nodes.size());
  for (auto& n : g.nodes) renames.emplace(n.name, prefix + n.name);
  rename_nodes(g, renames);
}

TFFORGE_GRAPH_PASS(rename_attribute) {
  const char* usage = "rename_attribute expects exactly one 'old_attribute_name' and one 'new_attribute_name' "
                      "argument, e.g. rename_attribute(old_attribute_name=foo, new_attribute_name=bar)";
  std::string from = args.exactly_one("old_attribute_name", usage);
  std::string to = args.exactly_one("new_attribute_name", usage);
  auto op_names = args.all("op_name");  // TensorFlow reads the first one
  std::string op = op_names.empty() ? "*" : op_names[0];
  for (auto& n : g.nodes) {
    if (op != "*" && op != n.op) continue;
    const Attr* a = n.attr(from);
    if (!a || from == to) continue;
    Attr moved = *a;
    n.erase_attr(from);
    if (!n.attr(to)) {  // a map insert: an existing attribute of the new name wins
      moved.key = to;
      n.attrs.push_back(std::move(moved));
    }
  }
}

TFFORGE_GRAPH_PASS(remove_attribute) {
  std::string name = args.exactly_one("attribute_name", "remove_nodes expects exactly one 'attribute_name' argument, "
                                                        "e.g. remove_attribute(op_name=Mul, attribute_name=foo)");
  if (args.count("op_name") > 1)
    throw Error("TransformError", "remove_nodes expects a single op_name argument, but found " +
                                      std::to_string(args.count("op_name")));
  std::string op = args.one("op_name", "*");
  for (auto& n : g.nodes)
    if (op == "*" || op == n.op) n.erase_attr(name);
}

TFFORGE_GRAPH_PASS(remove_control_dependencies) {
  for (auto& n : g.nodes) {
    auto end = std::remove_if(n.inputs.begin(), n.inputs.end(), is_control_input);
    if (end != n.inputs.end()) {
      n.inputs.erase(end, n.inputs.end());
      n.dirty = true;
    }
  }
}

// Renames every node but the inputs and outputs (as given, port included, like TensorFlow) to short
// names counted in base 62 as transform_graph does: 0, 1, ..., Z, 10, ...; a generated name equal to a
// kept one is skipped.
TFFORGE_GRAPH_PASS(obfuscate_names) {
  static const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::unordered_set<std::string> fixed(ctx.inputs.begin(), ctx.inputs.end());
  fixed.insert(ctx.outputs.begin(), ctx.outputs.end());
  check_inputs_exist(g);
  std::unordered_map<std::string, std::string> renames;
  renames.reserve(g.nodes.size());
  uint64_t counter = 0;
  for (auto& n : g.nodes) {
    if (fixed.count(n.name)) continue;
    std::string s;
    do {
      s.clear();
      uint64_t v = counter++;
      do {
        s.insert(s.begin(), kDigits[v % 62]);
        v /= 62;
      } while (v);
    } while (fixed.count(s));
    renames.emplace(n.name, std::move(s));
  }
  rename_nodes(g, renames);
}

TFFORGE_GRAPH_PASS(sort_by_execution_order) {
  std::vector<size_t> order = topological_order(g);
  std::vector<Node> sorted;
  sorted.reserve(g.nodes.size());
  for (size_t i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
}

}  // namespace tfforge::graph
