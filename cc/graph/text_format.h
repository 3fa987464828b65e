// Protobuf text format for the compiled-in TensorFlow schema (GraphDef, MetaGraphDef, SavedModel
// and everything they reach), without libprotobuf. The printer walks wire bytes in wire order, so
// binary -> text -> binary gives back the same bytes; the parser reads what protobuf's text_format
// writes (comments, ':' before '{' optional, '<>' braces, [a, b] lists, adjacent string literals,
// expanded google.protobuf.Any).
#pragma once

#include <string>

#include "graph/schema.h"
#include "graph/sink.h"
#include "wire/wire.h"

namespace tfforge::graph {

// Nesting limit of the printer, parser and decoder (protobuf's own default recursion limit).
constexpr int kMaxTextDepth = 100;

// Throws WireFormatError (malformed bytes, with offset) or GraphError (a field the schema lacks).
void print_text(const schema::MessageDef& m, wire::Span bytes, Sink& out, const std::string& path = {});
// Returns the wire encoding; throws GraphError naming line, column and byte offset.
std::string parse_text(const schema::MessageDef& m, wire::Span text, const std::string& path = {});

}  // namespace tfforge::graph
