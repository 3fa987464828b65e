// Finding the GraphDef inside the files that wrap one: a TF1 .meta file is a MetaGraphDef, and a
// SavedModel's saved_model.pb is a SavedModel holding one MetaGraphDef per tag set. Both are
// walked at the wire level, so the graph stays a span of the mapped file.
#pragma once

#include <string>
#include <vector>

#include "graph/graph_def.h"

namespace tfforge::graph {

struct MetaGraphView {
  Span meta;                      // the MetaGraphDef bytes
  Span graph_def;                 // its graph_def field (empty when absent)
  std::vector<std::string> tags;  // meta_info_def.tags
  // The MetaGraphDef without its graph_def: small, decoded for inspect.
  std::string header() const;
};

MetaGraphView view_meta_graph(Span meta, const Source& src);
// All meta graphs of a SavedModel file.
std::vector<MetaGraphView> view_saved_model(Span file, const Source& src);

// A copy of `meta` (MetaGraphDef bytes) with graph_def replaced by `graph`.
std::string replace_graph_def(Span meta, const GraphDef& graph);

}  // namespace tfforge::graph
