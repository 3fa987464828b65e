// remove_nodes(op=Identity, op=CheckNumerics, ..., max_inputs=N) and merge_duplicate_nodes: passes that
// take nodes out and point their consumers elsewhere. Both run in time linear in the graph (plus the
// attribute bytes hashed by the merge), where transform_graph repeats whole-graph rounds until nothing
// changes, which is quadratic on long chains.
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

std::unordered_set<std::string> node_names(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::unordered_set<std::string> s;
  for (auto& n : a) s.insert(input_node_name(n));
  for (auto& n : b) s.insert(input_node_name(n));
  return s;
}

// ":1" of "x:1", "" of "x" and "^x".
std::string port_suffix(const std::string& input) {
  size_t colon = input.rfind(':');
  return (colon == std::string::npos || is_control_input(input)) ? std::string() : input.substr(colon);
}

}  // namespace

// As transform_graph's remove_nodes: a node of a listed op with 1 to max_inputs data inputs (default 1;
// control inputs do not count) that is not a graph input or output is removed; consumers of its output
// read its first data input instead (port kept), consumers of its control edge depend on that input's
// node, and its other inputs are dropped. Differences, each documented in docs/graph.md: tfforge keeps
// an Identity fed by a Switch (a TF1 cond/while pivot that control edges hang on; keep_switch_pivots=false
// removes it like TensorFlow) and a node whose output port 1 or higher is read (TensorFlow leaves that
// input dangling and fails), and it leaves the removed node's other input nodes in the graph (TensorFlow
// deletes them, even when other nodes read them; strip_unused_nodes drops them when unused).
TFFORGE_GRAPH_PASS(remove_nodes) {
  auto ops = args.all("op");
  if (ops.empty())
    throw Error("TransformError", "remove_nodes expects at least one 'op'argument, e.g. remove_nodes(op=Identity)");
  int32_t max_inputs = args.one_int32("max_inputs", 1);
  bool keep_pivots = args.one_bool("keep_switch_pivots", true);
  std::unordered_set<std::string> op_set(ops.begin(), ops.end());
  auto required = node_names(ctx.inputs, ctx.outputs);
  check_inputs_exist(g);
  auto& idx = g.index();
  size_t n = g.nodes.size();
  auto source = [&](const std::string& in) { return idx.at(input_node_name(in)); };

  std::vector<bool> removed(n, false);
  auto data_inputs = [](const Node& node) {
    return size_t(std::count_if(node.inputs.begin(), node.inputs.end(), [](auto& in) { return !is_control_input(in); }));
  };
  auto first_data = [](const Node& node) -> const std::string& {
    return *std::find_if(node.inputs.begin(), node.inputs.end(), [](auto& in) { return !is_control_input(in); });
  };
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    size_t k = data_inputs(node);
    if (!op_set.count(node.op) || required.count(node.name) || k < 1 || int64_t(k) > max_inputs) continue;
    const std::string& src_op = g.nodes[source(first_data(node))].op;
    if (keep_pivots && node.op == "Identity" && (src_op == "Switch" || src_op == "RefSwitch")) continue;
    removed[i] = true;
  }
  for (auto& node : g.nodes)
    for (auto& in : node.inputs) {
      std::string port = port_suffix(in);
      if (!port.empty() && port != ":0") removed[source(in)] = false;
    }
  if (std::find(removed.begin(), removed.end(), true) == removed.end()) return;

  // What a removed node's output becomes: its first input, followed through removed nodes (memoized).
  std::vector<std::string> target(n);
  std::vector<uint8_t> state(n, 0);  // 0 unresolved, 1 on the current path, 2 resolved
  auto resolve = [&](size_t i) -> const std::string& {
    std::vector<size_t> path;
    size_t cur = i;
    std::string result;
    while (true) {
      if (state[cur] == 2) { result = target[cur]; break; }
      if (state[cur] == 1)
        throw Error("GraphError", "remove_nodes: the removed nodes' inputs form a cycle").at_node(g.nodes[cur].name);
      state[cur] = 1;
      path.push_back(cur);
      const std::string& first = first_data(g.nodes[cur]);
      size_t next = source(first);
      if (!removed[next]) { result = first; break; }
      cur = next;
    }
    for (size_t p : path) {
      target[p] = result;
      state[p] = 2;
    }
    return target[i];
  };
  for (size_t i = 0; i < n; ++i) {
    if (removed[i]) continue;
    Node& node = g.nodes[i];
    for (auto& in : node.inputs) {
      size_t src = source(in);
      if (!removed[src]) continue;
      const std::string& t = resolve(src);
      in = is_control_input(in) ? "^" + input_node_name(t) : t;
      node.dirty = true;
    }
  }
  std::vector<bool> keep(n);
  for (size_t i = 0; i < n; ++i) keep[i] = !removed[i];
  keep_nodes(g, keep, /*keep_library=*/true);
}

namespace {

// Ops whose nodes must stay separate even when identical: they hold state, have side effects,
// are fed by name, or carry TF1 control-flow frames. (TensorFlow asks its op registry whether an op is
// stateful and merges everything else, Placeholders included.)
bool same_span(Span a, Span b) { return a.size == b.size && (!a.size || std::memcmp(a.data, b.data, a.size) == 0); }

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

struct Input {
  size_t src;
  bool control;
  std::string port;  // as written: "", ":0", ":1"
};

}  // namespace

// Nodes with the same op, device, attributes (Const values included) and inputs become one, the first
// in graph order, as transform_graph's merge_duplicate_nodes does over repeated rounds. Here one walk in
// execution order compares inputs by the class their producer was merged into, so chains of duplicates
// merge in a single pass. Named inputs and outputs are never merged away.
TFFORGE_GRAPH_PASS(merge_duplicate_nodes) {
  std::unordered_set<std::string> fixed(ctx.inputs.begin(), ctx.inputs.end());
  fixed.insert(ctx.outputs.begin(), ctx.outputs.end());
  std::vector<size_t> order = topological_order(g);  // also checks that every input exists
  auto& idx = g.index();
  size_t n = g.nodes.size();
  std::vector<std::vector<Input>> inputs(n);
  for (size_t i = 0; i < n; ++i)
    for (auto& in : g.nodes[i].inputs) inputs[i].push_back({idx.at(input_node_name(in)), is_control_input(in), port_suffix(in)});

  std::vector<size_t> cls(n);
  for (size_t i = 0; i < n; ++i) cls[i] = i;
  std::hash<std::string_view> h;
  auto node_hash = [&](size_t i) {
    const Node& node = g.nodes[i];
    size_t v = h(node.op) ^ (h(node.device) * 31);
    for (auto& in : inputs[i]) v = (v * 1000003) ^ (cls[in.src] * 2 + in.control) ^ (h(in.port) << 1);
    size_t a = 0;  // attributes as a set: + does not depend on their order
    for (auto& at : node.attrs)
      a += h(at.key) * 7 + h(std::string_view(reinterpret_cast<const char*>(at.value.data), at.value.size)) +
           tail_hash(at) * 3;
    return v ^ a;
  };
  auto same = [&](size_t i, size_t j) {
    const Node &a = g.nodes[i], &b = g.nodes[j];
    if (a.op != b.op || a.device != b.device || inputs[i].size() != inputs[j].size() || a.attrs.size() != b.attrs.size())
      return false;
    for (size_t k = 0; k < inputs[i].size(); ++k) {
      const Input &x = inputs[i][k], &y = inputs[j][k];
      if (x.control != y.control || x.port != y.port || cls[x.src] != cls[y.src]) return false;
    }
    for (auto& x : a.attrs) {
      const Attr* y = b.attr(x.key);
      if (!y || !same_span(y->value, x.value) || !same_tail(*y, x)) return false;
    }
    return true;
  };
  std::unordered_map<size_t, std::vector<size_t>> buckets;
  bool any = false;
  for (size_t i : order) {
    const Node& node = g.nodes[i];
    if (never_merge(node.op) || fixed.count(node.name)) continue;
    auto& bucket = buckets[node_hash(i)];
    auto match = std::find_if(bucket.begin(), bucket.end(), [&](size_t j) { return same(i, j); });
    if (match == bucket.end()) {
      bucket.push_back(i);
    } else {
      cls[i] = cls[*match];
      any = true;
    }
  }
  if (!any) return;
  std::vector<size_t> survivor(n);
  for (size_t i = 0; i < n; ++i) survivor[i] = i;
  for (size_t i = 0; i < n; ++i) survivor[cls[i]] = std::min(survivor[cls[i]], i);
  std::vector<bool> keep(n);
  for (size_t i = 0; i < n; ++i) keep[i] = survivor[cls[i]] == i;
  for (size_t i = 0; i < n; ++i) {
    if (!keep[i]) continue;
    Node& node = g.nodes[i];
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const Input& in = inputs[i][k];
      size_t s = survivor[cls[in.src]];
      if (s == in.src) continue;
      node.inputs[k] = (in.control ? "^" : "") + g.nodes[s].name + in.port;
      node.dirty = true;
    }
  }
  keep_nodes(g, keep, /*keep_library=*/true);
}

}  // namespace tfforge::graph
