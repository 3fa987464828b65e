// Graph passes with the names and argument syntax of TensorFlow's Graph Transform Tool, so command
// lines such as "strip_unused_nodes(type=float, shape=\"1,224,224,3\") remove_nodes(op=Identity)"
// carry over. Each pass is one function registered by name (TFFORGE_GRAPH_PASS); a run applies
// them in order to the same GraphDef.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "graph/graph_def.h"

namespace tfforge::graph {

// A pass's arguments, read with transform_graph's rules (TransformFuncContext): a name may repeat
// (op=A, op=B); the one_* readers reject a repeated name, and their messages are TensorFlow's.
struct PassArgs {
  std::vector<std::pair<std::string, std::string>> items;
  size_t count(const std::string& k) const;
  bool has(const std::string& k) const { return count(k) > 0; }
  std::vector<std::string> all(const std::string& k) const;
  // The value of an argument given at most once, else `fallback`.
  std::string one(const std::string& k, const std::string& fallback = {}) const;
  // An int32 as strtol reads it with surrounding spaces allowed ("3", " -2 "), at most once.
  int32_t one_int32(const std::string& k, int32_t fallback) const;
  // true/1/false/0 (exactly; TensorFlow rejects "True"), at most once.
  bool one_bool(const std::string& k, bool fallback) const;
  // The value of an argument that must be given exactly once; `usage` is the error otherwise.
  std::string exactly_one(const std::string& k, const std::string& usage) const;
};

struct PassContext {
  std::vector<std::string> inputs, outputs;  // node names (a ":port" suffix is ignored)
};

struct TransformSpec {
  std::string name;
  PassArgs args;
};

// Parses "name(arg=value, arg=\"quoted value\") name2 ..."; throws TransformError with the position.
std::vector<TransformSpec> parse_transforms(const std::string& text);

using PassFn = void (*)(GraphDef& g, const PassContext& ctx, const PassArgs& args);

// nullptr when no native pass has that name.
PassFn find_pass(const std::string& name);
std::vector<std::string> pass_names();

struct PassRegistration {
  PassRegistration(const char* name, PassFn fn);
};

#define TFFORGE_GRAPH_PASS(name)                                                                         \
  static void tfforge_pass_##name(::tfforge::graph::GraphDef& g, const ::tfforge::graph::PassContext& ctx,   \
                                  const ::tfforge::graph::PassArgs& args);                                 \
  static ::tfforge::graph::PassRegistration tfforge_pass_registration_##name(#name, tfforge_pass_##name);   \
  static void tfforge_pass_##name(::tfforge::graph::GraphDef& g,                                           \
                                  [[maybe_unused]] const ::tfforge::graph::PassContext& ctx,               \
                                  [[maybe_unused]] const ::tfforge::graph::PassArgs& args)

// Applies the native passes in order; throws TransformError naming the first unknown pass. As in
// transform_graph, every pass takes ignore_errors=true|false (any case): with true, a pass that fails
// leaves the graph as it was and its error is reported on stderr; any other value is an error.
void apply_passes(GraphDef& g, const std::vector<TransformSpec>& specs, const PassContext& ctx);

// --- helpers shared by the passes ---

// Throws GraphError naming the consumer when an input refers to a node not in the graph.
void check_inputs_exist(const GraphDef& g);
// Keeps the nodes whose flag is set, in order, and the library functions they call (transitively), or
// the whole library with keep_library.
void keep_nodes(GraphDef& g, const std::vector<bool>& keep, bool keep_library = false);
// Library functions a set of nodes call, transitively through function bodies.
std::vector<std::string> called_functions(const GraphDef& g, const std::vector<bool>& from_nodes);
// Node indices in an order where every node comes after its inputs (NextIteration back edges of
// TF1 while loops excepted); throws GraphError naming a node on a cycle.
std::vector<size_t> topological_order(const GraphDef& g);

}  // namespace tfforge::graph
