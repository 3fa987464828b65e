// The object graph a TF2 checkpoint stores under _CHECKPOINTABLE_OBJECT_GRAPH: a serialized
// TrackableObjectGraph (tensorflow/core/protobuf/trackable_object_graph.proto):
//   TrackableObjectGraph { repeated TrackableObject nodes = 1; }
//   TrackableObject { children = 1; repeated SerializedTensor attributes = 2; slot_variables = 3; ... }
//   SerializedTensor { string name = 1; string full_name = 2; string checkpoint_key = 3; bool optional_restore = 4; }
// tf.train.Checkpoint.restore finds each variable's tensor through checkpoint_key, so a checkpoint
// whose tensors are renamed or dropped stays restorable when these attributes follow.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "wire/wire.h"

namespace tfforge::checkpoint {

struct ObjectAttribute {
  int node;
  std::string name, full_name, checkpoint_key;
};

std::vector<ObjectAttribute> object_graph_attributes(wire::Span graph);

// Attributes whose checkpoint_key is a key of `changes` get the (checkpoint_key, full_name) pair it
// maps to, or are removed when it maps to nullopt; everything else is copied byte for byte.
std::string rewrite_object_graph(
    wire::Span graph, const std::map<std::string, std::optional<std::pair<std::string, std::string>>>& changes);

}  // namespace tfforge::checkpoint
