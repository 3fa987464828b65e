// Passes that edit node fields in place: devices, op names, node names, attributes, control inputs.
#include <algorithm>
#include <unordered_set>

#include "error.h"
#include "graph/names.h"
#include "graph/passes.h"

namespace tfforge::graph {

namespace {

std::string required(const PassArgs& args, const char* pass, const char* key) {
  if (!args.has(key)) throw Error("TransformError", std::string(pass) + " needs the argument " + key + "=...");
  return args.get(key);
}

bool op_matches(const PassArgs& args, const Node& n) {
  std::string op = args.get("op_name", "*");
  return op == "*" || op == n.op;
}

}  // namespace

TFFORGE_GRAPH_PASS(remove_device) {
  for (auto& n : g.nodes)
    if (!n.device.empty()) {
      n.device.clear();
      n.dirty = true;
    }
}

TFFORGE_GRAPH_PASS(set_device) {
  std::string device = args.get("device");
  bool if_default = args.flag("if_default");
  for (auto& n : g.nodes) {
    if (if_default && !n.device.empty()) continue;
    if (n.device != device) {
      n.device = device;
      n.dirty = true;
    }
  }
}

TFFORGE_GRAPH_PASS(rename_op) {
  std::string from = required(args, "rename_op", "old_op_name"), to = required(args, "rename_op", "new_op_name");
  for (auto& n : g.nodes)
    if (n.op == from) {
      n.op = to;
      n.dirty = true;
    }
}

TFFORGE_GRAPH_PASS(rename_node) {
  std::string from = required(args, "rename_node", "old_node_name");
  std::string to = required(args, "rename_node", "new_node_name");
  if (g.find(from) < 0) throw Error("GraphError", "rename_node: no such node").at_node(from);
  if (g.find(to) >= 0) throw Error("GraphError", "rename_node: a node of the new name already exists").at_node(to);
  rename_nodes(g, {{from, to}});
}

TFFORGE_GRAPH_PASS(add_prefix) {
  std::string prefix = required(args, "add_prefix", "prefix");
  std::unordered_map<std::string, std::string> renames;
  for (auto& n : g.nodes) renames.emplace(n.name, prefix + n.name);
  rename_nodes(g, renames);
}

TFFORGE_GRAPH_PASS(rename_attribute) {
  std::string from = required(args, "rename_attribute", "old_attribute_name");
  std::string to = required(args, "rename_attribute", "new_attribute_name");
  for (auto& n : g.nodes) {
    if (!op_matches(args, n)) continue;
    for (auto& a : n.attrs)
      if (a.key == from) {
        a.key = to;
        n.dirty = true;
      }
  }
}

TFFORGE_GRAPH_PASS(remove_attribute) {
  std::string name = required(args, "remove_attribute", "attribute_name");
  for (auto& n : g.nodes)
    if (op_matches(args, n)) n.erase_attr(name);
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

// Renames every node but the inputs and outputs to short generated names (a, b, ..., z, ba, ...).
TFFORGE_GRAPH_PASS(obfuscate_names) {
  std::unordered_set<std::string> fixed;
  for (auto& s : ctx.inputs) fixed.insert(input_node_name(s));
  for (auto& s : ctx.outputs) fixed.insert(input_node_name(s));
  std::unordered_map<std::string, std::string> renames;
  uint64_t counter = 0;
  auto next_name = [&] {
    while (true) {
      std::string s;
      uint64_t v = counter++;
      do {
        s.insert(s.begin(), char('a' + v % 26));
        v /= 26;
      } while (v);
      if (!fixed.count(s)) return s;
    }
  };
  for (auto& n : g.nodes)
    if (!fixed.count(n.name)) renames.emplace(n.name, next_name());
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
