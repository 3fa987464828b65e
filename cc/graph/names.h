// Small shared pieces of the passes: dtype names as transform_graph spells them, reading an
// AttrValue's type, and renaming nodes everywhere a name appears (inputs, colocation attrs).
#pragma once

#include <string>
#include <unordered_map>

#include "graph/graph_def.h"

namespace tfforge::graph {

// "float", "int32", "DT_FLOAT", "float16" ... -> DataType number.
bool parse_dtype(const std::string& name, int* dtype);
// AttrValue.type, or -1 when the attr holds no type.
int attr_type_value(Span attr_value);
// Renames nodes, the inputs that refer to them, and "loc:@name" colocation entries in "_class".
void rename_nodes(GraphDef& g, const std::unordered_map<std::string, std::string>& renames);

}  // namespace tfforge::graph
