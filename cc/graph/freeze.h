// Freezing edits on the graph index: a node becomes a Const whose weight bytes are borrowed from the
// caller (a buffer, or a range of a checkpoint or weights file) and written straight from there by the
// graph's writer, and the ops that read a frozen variable become the ops that read a value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "graph/graph_def.h"

namespace tfforge::graph {

// Turns node `name` into a Const (device kept) of `dtype` and shape `dims` whose tensor_content is
// `content`. With an `owner`, the bytes are borrowed: the graph keeps `owner` alive and never copies
// them; without one they are copied. Throws GraphError when the node does not exist.
void replace_with_const(GraphDef& g, const std::string& name, int dtype, const std::vector<int64_t>& dims,
                        Span content, std::shared_ptr<const void> owner);
// The same with the bytes left in a file: the writer streams them from there (StoredBytes: pread in
// chunks, CRC32C checked on the bytes it writes), so they are never held in memory whole.
void replace_with_stored_const(GraphDef& g, const std::string& name, int dtype, const std::vector<int64_t>& dims,
                               std::shared_ptr<const StoredBytes> stored);
// The same with DT_STRING values (string_val), copied.
void replace_with_string_const(GraphDef& g, const std::string& name, const std::vector<int64_t>& dims,
                               const std::vector<std::string>& values);

// After the named variables (name -> dtype) became Consts, makes their readers read values:
// ReadVariableOp -> Identity, ResourceGather -> GatherV2 (with a new `<name>/frozen_axis` Const),
// VariableShape -> Shape, Ref* ops -> their plain forms, and the pass-through ops (Identity, Enter,
// Switch, Merge, NextIteration, Exit, IdentityN) carry the dtype instead of DT_RESOURCE (their
// _output_shapes, the handle's, dropped), followed transitively. Other consumers (assignments, saver ops) are left as they are.
void rewrite_variable_readers(GraphDef& g, const std::vector<std::pair<std::string, int>>& frozen);

// Appends Identity(input) of type `dtype` named `name` (which must not exist yet).
void add_identity(GraphDef& g, const std::string& name, const std::string& input, int dtype);

}  // namespace tfforge::graph
