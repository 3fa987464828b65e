// Helpers the passes share: input checks, rewiring, keeping a node subset with the functions it
// calls, and execution order.
#include <deque>
#include <unordered_map>
#include <unordered_set>

#include "error.h"
#include "graph/passes.h"

namespace tfforge::graph {

using wire::Reader;
using wire::WireType;

namespace {

constexpr int kMaxAttrDepth = 100;

void collect_attr_funcs(Span attr_value, std::vector<std::string>& out, int depth = 0);

// NameAttrList{name = 1, attr = 2 (map<string, AttrValue>)}
void collect_name_attr_list(Span nal, std::vector<std::string>& out, int depth) {
  if (depth > kMaxAttrDepth) throw Error("WireFormatError", "function attributes nested too deeply");
  Reader r(nal);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f == 1 && t == wire::kLengthDelimited) {
      out.push_back(r.bytes().str());
    } else if (f == 2 && t == wire::kLengthDelimited) {
      Reader er(r.bytes());
      while (er.next(&f, &t)) {
        if (f == 2 && t == wire::kLengthDelimited) collect_attr_funcs(er.bytes(), out, depth + 1);
        else er.skip(t);
      }
    } else {
      r.skip(t);
    }
  }
}

// Function names an AttrValue refers to: func (10) or list.func (1 -> 9).
void collect_attr_funcs(Span attr_value, std::vector<std::string>& out, int depth) {
  Reader r(attr_value);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f == 10 && t == wire::kLengthDelimited) {
      collect_name_attr_list(r.bytes(), out, depth + 1);
    } else if (f == 1 && t == wire::kLengthDelimited) {
      Reader lr(r.bytes());
      while (lr.next(&f, &t)) {
        if (f == 9 && t == wire::kLengthDelimited) collect_name_attr_list(lr.bytes(), out, depth + 1);
        else lr.skip(t);
      }
    } else {
      r.skip(t);
    }
  }
}

// Ops and function attrs of the NodeDefs in a FunctionDef body (node_def = 3).
void collect_function_body(Span fdef, std::vector<std::string>& out) {
  Reader r(fdef);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f == 3 && t == wire::kLengthDelimited) {
      Reader nr(r.bytes());
      while (nr.next(&f, &t)) {
        if (f == 2 && t == wire::kLengthDelimited) {
          out.push_back(nr.bytes().str());
        } else if (f == 5 && t == wire::kLengthDelimited) {
          Reader er(nr.bytes());
          while (er.next(&f, &t)) {
            if (f == 2 && t == wire::kLengthDelimited) collect_attr_funcs(er.bytes(), out);
            else er.skip(t);
          }
        } else {
          nr.skip(t);
        }
      }
    } else {
      r.skip(t);
    }
  }
}

// GradientDef{function_name = 1, gradient_func = 2}
std::pair<std::string, std::string> gradient_pair(Span gdef) {
  std::pair<std::string, std::string> p;
  Reader r(gdef);
  uint32_t f;
  WireType t;
  while (r.next(&f, &t)) {
    if (f == 1 && t == wire::kLengthDelimited) p.first = r.bytes().str();
    else if (f == 2 && t == wire::kLengthDelimited) p.second = r.bytes().str();
    else r.skip(t);
  }
  return p;
}

}  // namespace

void check_inputs_exist(const GraphDef& g) {
  auto& idx = g.index();
  if (idx.size() != g.nodes.size()) {
    std::unordered_set<std::string> seen;
    for (auto& n : g.nodes)
      if (!seen.insert(n.name).second) throw Error("GraphError", "two nodes share this name").at_node(n.name).at_path(g.source().path);
  }
  for (auto& n : g.nodes)
    for (auto& in : n.inputs)
      if (!idx.count(input_node_name(in)))
        throw Error("GraphError", "input '" + in + "' names a node that is not in the graph")
            .at_node(n.name).at_path(g.source().path);
}

std::vector<std::string> called_functions(const GraphDef& g, const std::vector<bool>& from_nodes) {
  std::unordered_map<std::string, size_t> fn_index;
  for (size_t i = 0; i < g.library.functions.size(); ++i) fn_index.emplace(g.library.functions[i].name, i);
  std::unordered_map<std::string, std::string> grad_of;
  for (auto& gr : g.library.gradients) grad_of.insert(gradient_pair(gr));

  std::vector<std::string> refs;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!from_nodes[i]) continue;
    refs.push_back(g.nodes[i].op);
    for (auto& a : g.nodes[i].attrs)
      if (!a.tail.size) collect_attr_funcs(a.value, refs);  // a spliced tensor calls no function
  }
  std::vector<std::string> out;
  std::unordered_set<std::string> seen;
  while (!refs.empty()) {
    std::string name = std::move(refs.back());
    refs.pop_back();
    auto it = fn_index.find(name);
    if (it == fn_index.end() || !seen.insert(name).second) continue;
    out.push_back(name);
    collect_function_body(g.library.functions[it->second].raw, refs);
    auto gi = grad_of.find(name);
    if (gi != grad_of.end()) refs.push_back(gi->second);
  }
  return out;
}

void keep_nodes(GraphDef& g, const std::vector<bool>& keep, bool keep_library) {
  if (!keep_library && !g.library.functions.empty()) {
    auto called = called_functions(g, keep);
    std::unordered_set<std::string> kept(called.begin(), called.end());
    std::vector<Function> fns;
    for (auto& f : g.library.functions)
      if (kept.count(f.name)) fns.push_back(f);
    std::vector<Span> grads;
    for (auto& gr : g.library.gradients)
      if (kept.count(gradient_pair(gr).first)) grads.push_back(gr);
    g.library.functions = std::move(fns);
    g.library.gradients = std::move(grads);
  }
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (keep[i]) nodes.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(nodes);
  g.invalidate_index();
}

std::vector<size_t> topological_order(const GraphDef& g) {
  check_inputs_exist(g);
  auto& idx = g.index();
  size_t n = g.nodes.size();
  std::vector<int> pending(n, 0);
  std::vector<std::vector<size_t>> consumers(n);
  for (size_t i = 0; i < n; ++i)
    for (auto& in : g.nodes[i].inputs) {
      size_t src = idx.at(input_node_name(in));
      const std::string& op = g.nodes[src].op;
      if (op == "NextIteration" || op == "RefNextIteration") continue;  // while-loop back edge
      ++pending[i];
      consumers[src].push_back(i);
    }
  std::deque<size_t> ready;
  for (size_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready.push_back(i);
  std::vector<size_t> order;
  order.reserve(n);
  while (!ready.empty()) {
    size_t i = ready.front();
    ready.pop_front();
    order.push_back(i);
    for (size_t c : consumers[i])
      if (--pending[c] == 0) ready.push_back(c);
  }
  if (order.size() != n) {
    // Walk back through unfinished inputs from an unfinished node; the first node met twice is on a cycle.
    size_t at = 0;
    while (pending[at] == 0) ++at;
    std::vector<bool> seen(n, false);
    while (!seen[at]) {
      seen[at] = true;
      for (auto& in : g.nodes[at].inputs) {
        size_t src = idx.at(input_node_name(in));
        const std::string& op = g.nodes[src].op;
        if (pending[src] > 0 && op != "NextIteration" && op != "RefNextIteration") {
          at = src;
          break;
        }
      }
    }
    throw Error("GraphError", "the graph has a cycle through this node (not a while loop's NextIteration edge)")
        .at_node(g.nodes[at].name).at_path(g.source().path);
  }
  return order;
}

}  // namespace tfforge::graph
