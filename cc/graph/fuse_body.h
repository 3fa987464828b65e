// The node list a fusion pass rewrites: a GraphDef's own nodes, or the body of one library function
// (FunctionDef.node_def, where inputs read "node:output_arg:index" and a bare name is an argument).
// Both look the same to the matchers: producers and consumers of a tensor, what the graph states about
// it (constant values, shapes from _output_shapes / Const / Placeholder / variable attrs), and edits
// (replace a node with a fused one, remove nodes, add helper nodes) applied in one sweep by commit().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "graph/graph_def.h"
#include "graph/tensor.h"

namespace tfforge::graph::fuse {

// A consumer of a node: another node (data or control input), or a name outside the node list
// (a function's ret / control_ret, an output the caller keeps).
struct Use {
  int64_t node = -1;  // -1: external
  bool control = false;
  std::string external;
};

class Body {
 public:
  // The GraphDef's node list; `keep` names nodes something outside the graph refers to.
  Body(GraphDef& g, const std::vector<std::string>& keep);
  // The body of library function number `fn` of g.
  Body(GraphDef& g, size_t fn);

  const std::string& function() const { return function_; }  // empty for the GraphDef's own nodes
  size_t size() const { return nodes_->size(); }
  const Node& node(size_t i) const { return (*nodes_)[i]; }
  const std::vector<Use>& uses(size_t i) const { return uses_[i]; }
  std::vector<std::string> data_inputs(size_t i) const;

  // The node a data input names, or -1 (a function argument or a missing node).
  int64_t producer(const std::string& ref) const;
  // Equal for every spelling of one tensor ("a" and "a:0" in a GraphDef).
  std::string key(const std::string& ref) const;
  // How messages name a tensor: its node, or the argument.
  std::string display(const std::string& ref) const;

  // What the graph states about a tensor.
  std::optional<Shape> shape(const std::string& ref, int depth = 0) const;
  // A constant holding one number (a scalar or a one-element tensor of rank <= 1), through Identity.
  std::optional<double> scalar(const std::string& ref, int* dtype = nullptr) const;
  // The values of an integer constant (int32/int64), through Identity.
  std::optional<std::vector<int64_t>> ints(const std::string& ref) const;
  // Computed from constants, variables, placeholders and arguments only (so never downstream of a
  // site being fused).
  bool is_param(const std::string& ref, int depth = 0) const;
  int type_attr(size_t i, const char* key = "T") const;  // -1 when absent
  std::optional<bool> bool_attr(size_t i, const char* key) const;
  std::optional<std::string> string_attr(size_t i, const char* key) const;
  std::optional<float> float_attr(size_t i, const char* key) const;
  std::optional<int64_t> int_attr(size_t i, const char* key) const;

  // How a new node's output `arg` (its name in the op definition) is referred to here.
  std::string ref_to(const std::string& node_name, const std::string& arg) const;
  // A node name not used yet, starting from `base`.
  std::string fresh_name(const std::string& base);

  // Edits, applied by commit(). replace(): node i becomes `fused` (same name); references to its
  // output are rewritten to `out_arg` inside functions. Removed nodes must have no consumers left.
  void replace(size_t i, Node fused, const std::string& out_arg, std::vector<Node> helpers);
  void remove(size_t i) { removed_[i] = true; }
  bool edited() const { return edited_; }
  // Applies the edits, drops Const nodes only removed nodes read, and re-encodes a function.
  void commit();

  GraphDef& graph() { return g_; }

 private:
  // The tensor of the Const that `ref` reads through pass-through ops (at most 8), or nothing; its bytes
  // may live in `scratch` (a spliced Const keeps its weights in a tail), which must outlive the view.
  std::optional<TensorView> constant(const std::string& ref, std::string* scratch) const;
  void index();
  void parse_function();

  GraphDef& g_;
  std::vector<Node>* nodes_;
  std::vector<Node> own_nodes_;  // a function's body
  int64_t fn_ = -1;
  std::string function_;
  std::unordered_map<std::string, size_t> by_name_;
  std::unordered_set<std::string> taken_;
  std::vector<std::vector<Use>> uses_;
  std::vector<std::string> keep_;
  // A function's signature and the fields commit() writes back around the nodes.
  std::unordered_map<std::string, Shape> arg_shapes_, arg_handle_shapes_;
  std::vector<std::pair<std::string, std::string>> ret_;
  std::vector<std::pair<std::string, std::string>> control_ret_;
  // replacement bookkeeping
  std::vector<bool> removed_;
  std::unordered_map<size_t, std::pair<Node, std::vector<Node>>> replaced_;
  std::unordered_map<std::string, std::string> out_arg_;  // replaced node name -> its new output arg
  bool edited_ = false;
};

}  // namespace tfforge::graph::fuse
