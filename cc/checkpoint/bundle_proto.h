// The two messages of a checkpoint index (tensorflow/core/protobuf/tensor_bundle.proto), decoded and
// encoded on the wire format without libprotobuf:
//   BundleHeaderProto { int32 num_shards = 1; Endianness endianness = 2; VersionDef version = 3; }
//   BundleEntryProto  { DataType dtype = 1; TensorShapeProto shape = 2; int32 shard_id = 3;
//                       int64 offset = 4; int64 size = 5; fixed32 crc32c = 6;
//                       repeated TensorSliceProto slices = 7; }
// with TensorShapeProto { repeated Dim dim = 2 { int64 size = 1; string name = 2; } bool unknown_rank = 3; },
// TensorSliceProto { repeated Extent extent = 1 { int64 start = 1; int64 length = 2; } } and
// VersionDef { int32 producer = 1; int32 min_consumer = 2; repeated int32 bad_consumers = 3; }.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "wire/wire.h"

namespace tfforge::checkpoint {

// One dimension of a slice; length -1 means the whole dimension (TensorSliceProto without `length`).
struct Extent {
  int64_t start = 0;
  int64_t length = -1;
};
using Slice = std::vector<Extent>;

struct Entry {
  int dtype = 0;
  std::vector<int64_t> shape;
  bool unknown_rank = false;
  int32_t shard_id = 0;
  int64_t offset = 0;
  int64_t size = 0;
  uint32_t crc32c = 0;  // masked CRC32C of the stored bytes
  std::vector<Slice> slices;  // non-empty: a partitioned tensor whose slices are stored as their own entries
};

struct Header {
  int32_t num_shards = 1;
  int endianness = 0;  // 0 little, 1 big
  int32_t producer = 1;
  int32_t min_consumer = 0;
  std::vector<int32_t> bad_consumers;
};

// Both throw wire::ParseError with offsets relative to `bytes`.
Entry decode_entry(wire::Span bytes);
Header decode_header(wire::Span bytes);
std::string encode_entry(const Entry& e);
std::string encode_header(const Header& h);

}  // namespace tfforge::checkpoint
