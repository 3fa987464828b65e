// remove_nodes(op=Identity, op=CheckNumerics, ...) and merge_duplicate_nodes: passes that take nodes
// out and point their consumers elsewhere.
#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "error.h"
#include "graph/passes.h"

namespace tfforge::graph {

namespace {

std::unordered_set<std::string> protected_names(const PassContext& ctx) {
  std::unordered_set<std::string> s;
  for (auto& n : ctx.inputs) s.insert(input_node_name(n));
  for (auto& n : ctx.outputs) s.insert(input_node_name(n));
  return s;
}

// Rewrites inputs through `target` (removed node -> the input that replaces it). Data inputs keep
// their port; control inputs move to the replacement's node. Duplicate control inputs are dropped.
void rewrite_through(GraphDef& g, const std::unordered_map<std::string, std::string>& target) {
  auto resolve = [&](std::string in) {
    for (size_t hops = 0; hops <= target.size(); ++hops) {
      bool control = is_control_input(in);
      std::string base = input_node_name(in);
      auto it = target.find(base);
      if (it == target.end()) return in;
      std::string port = in.substr((control ? 1 : 0) + base.size());
      if (control) in = "^" + input_node_name(it->second);
      else if (port.empty() || port == ":0") in = it->second;
      else return in;  // the removed op has one output; a higher port is left for TensorFlow to reject
    }
    throw Error("GraphError", "inputs form a cycle through removed nodes").at_node(in);
  };
  for (auto& n : g.nodes) {
    bool touched = false;
    for (auto& in : n.inputs) {
      if (!target.count(input_node_name(in))) continue;
      in = resolve(in);
      touched = true;
    }
    if (!touched) continue;
    n.dirty = true;
    std::vector<std::string> inputs;
    std::unordered_set<std::string> controls;
    for (auto& in : n.inputs)
      if (!is_control_input(in) || controls.insert(in).second) inputs.push_back(in);
    n.inputs = std::move(inputs);
  }
}

}  // namespace

// Like transform_graph's remove_nodes: a node of a listed op with exactly one input and no control
// inputs is removed and its consumers read that input instead. Inputs and outputs are kept, and so
// are Identity nodes fed by a Switch: TF1 cond/while use them as branch pivots for control edges.
TFFORGE_GRAPH_PASS(remove_nodes) {
  auto ops = args.all("op");
  if (ops.empty()) throw Error("TransformError", "remove_nodes needs at least one op=... argument");
  std::unordered_set<std::string> op_set(ops.begin(), ops.end());
  auto keep_names = protected_names(ctx);
  auto& idx = g.index();
  std::unordered_map<std::string, std::string> target;
  std::vector<bool> keep(g.nodes.size(), true);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (!op_set.count(n.op) || keep_names.count(n.name) || n.inputs.size() != 1 || is_control_input(n.inputs[0]))
      continue;
    auto src = idx.find(input_node_name(n.inputs[0]));
    if (src != idx.end()) {
      const std::string& src_op = g.nodes[src->second].op;
      if (src_op == "Switch" || src_op == "RefSwitch") continue;
    }
    target.emplace(n.name, n.inputs[0]);
    keep[i] = false;
  }
  if (target.empty()) return;
  rewrite_through(g, target);
  keep_nodes(g, keep);
}

namespace {

// Ops whose nodes must stay separate even when identical: they hold state, have side effects,
// are fed by name, or carry TF1 control-flow frames.
bool never_merge(const std::string& op) {
  static const std::unordered_set<std::string> exact = {
      "Placeholder", "PlaceholderWithDefault", "PlaceholderV2", "VarHandleOp", "ReadVariableOp", "Enter",
      "RefEnter", "Exit", "RefExit", "Merge", "RefMerge", "Switch", "RefSwitch", "NextIteration",
      "RefNextIteration", "LoopCond", "ControlTrigger", "Send", "Recv", "_Send", "_Recv", "_Arg", "_Retval",
      "Print", "PrintV2", "Assert", "NoOp"};
  static const char* parts[] = {"Random", "Variable", "Assign", "Queue", "Iterator", "Stateful", "Save",
                                "Restore", "Table", "Summary", "Write", "Stack", "TensorArray", "Barrier",
                                "Dataset", "Accumulator", "Mutex", "Scatter", "Apply", "Resource"};
  if (exact.count(op)) return true;
  for (const char* p : parts)
    if (op.find(p) != std::string::npos) return true;
  return false;
}

size_t node_hash(const Node& n) {
  std::hash<std::string_view> h;
  size_t v = h(n.op) ^ (h(n.device) * 31);
  for (auto& in : n.inputs) v = v * 1000003 ^ h(in);
  // attrs as an unordered set: combine with + so map order does not matter
  size_t a = 0;
  for (auto& at : n.attrs)
    a += h(at.key) * 7 + h(std::string_view(reinterpret_cast<const char*>(at.value.data), at.value.size));
  return v ^ a;
}

bool same_node(const Node& a, const Node& b) {
  if (a.op != b.op || a.device != b.device || a.inputs != b.inputs || a.attrs.size() != b.attrs.size()) return false;
  for (auto& x : a.attrs) {
    const Attr* y = b.attr(x.key);
    if (!y || y->value.size != x.value.size || std::memcmp(y->value.data, x.value.data, x.value.size) != 0) return false;
  }
  return true;
}

}  // namespace

// Nodes with the same op, inputs, device and attributes (Const values included) become one; repeats
// until nothing changes, since merging makes their consumers identical in turn.
TFFORGE_GRAPH_PASS(merge_duplicate_nodes) {
  auto keep_names = protected_names(ctx);
  while (true) {
    std::unordered_map<size_t, std::vector<size_t>> buckets;
    std::unordered_map<std::string, std::string> target;
    std::vector<bool> keep(g.nodes.size(), true);
    for (size_t i = 0; i < g.nodes.size(); ++i) {
      const Node& n = g.nodes[i];
      if (never_merge(n.op) || keep_names.count(n.name)) continue;
      auto& bucket = buckets[node_hash(n)];
      bool merged = false;
      for (size_t j : bucket)
        if (same_node(g.nodes[j], n)) {
          target.emplace(n.name, g.nodes[j].name);
          keep[i] = false;
          merged = true;
          break;
        }
      if (!merged) bucket.push_back(i);
    }
    if (target.empty()) return;
    // Every output port of a merged node maps to the same port of the kept one.
    for (auto& n : g.nodes) {
      for (auto& in : n.inputs) {
        bool control = is_control_input(in);
        std::string base = input_node_name(in);
        auto it = target.find(base);
        if (it == target.end()) continue;
        in = (control ? "^" : "") + it->second + in.substr((control ? 1 : 0) + base.size());
        n.dirty = true;
      }
    }
    keep_nodes(g, keep);
  }
}

}  // namespace tfforge::graph
