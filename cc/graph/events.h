// TensorBoard events files: TFRecord-framed tensorflow.Event protos. The graph dashboard reads the
// first event's file_version and an event whose graph_def holds the serialized GraphDef.
#pragma once

#include <string>

#include "graph/graph_def.h"

namespace tfforge::graph {

// Writes `path` atomically with two events: file_version "brain.Event:2", then the graph.
void write_graph_events(const GraphDef& g, const std::string& path, double wall_time);

}  // namespace tfforge::graph
