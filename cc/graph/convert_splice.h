// Weight splicing for freezing: streams a GraphDef to a file, giving named nodes a `value` attr
// whose TensorProto carries raw weight bytes (tensor_content). Weights are written straight from
// the caller's buffers (memory-mapped checkpoint or weights files), never copied into a message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tfforge::convert {

struct ConstPayload {
  std::string node;            // name of a node already shaped as Const (op + dtype attr), minus `value`
  int dtype = 0;               // tensorflow DataType enum
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t size = 0;             // bytes; the caller checks it equals num_elements * dtype size
};

// Writes `graph` (serialized GraphDef) to `path` with one `value` attr appended to each node named in
// `payloads`; every other byte is copied verbatim. Written to a temporary name and renamed, so a
// failure never leaves a partial file. Throws tfforge::Error (GraphError / WireFormatError) naming
// the node or byte offset when the input is malformed or names a node the graph does not have.
// Returns the number of bytes written.
uint64_t splice_consts_to_file(const uint8_t* graph, size_t graph_size,
                               const std::vector<ConstPayload>& payloads, const std::string& path);

}  // namespace tfforge::convert
