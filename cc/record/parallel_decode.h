// Decoding a chunk of records on several threads. Each worker decodes one contiguous slice of the chunk
// into its own ExampleDecoder (same spec); the slices are then appended to the target decoder in record
// order, so the result is the same as decoding the chunk on one thread, errors included: the first bad
// record (in record order) raises, after the rows before it were appended.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "record/example_decoder.h"
#include "wire/wire.h"

namespace tfforge::record {

// Records copied out of a reader: record i is arena[starts[i], starts[i + 1]), with its index and
// framing offset in the file for error messages.
struct RecordChunk {
  std::vector<uint8_t> arena;
  std::vector<size_t> starts{0};
  std::vector<int64_t> index;
  std::vector<uint64_t> offset;
  size_t size() const { return index.size(); }
  void clear() {
    arena.clear();
    starts.assign(1, 0);
    index.clear();
    offset.clear();
  }
  void add(wire::Span data, int64_t record, uint64_t at) {
    arena.insert(arena.end(), data.data, data.data + data.size);
    starts.push_back(arena.size());
    index.push_back(record);
    offset.push_back(at);
  }
  wire::Span at(size_t i) const { return wire::Span{arena.data() + starts[i], starts[i + 1] - starts[i]}; }
};

// A record left out in recovery mode (a malformed Example).
struct SkippedExample {
  int64_t record;
  uint64_t offset;
  std::string reason;
};

// What to decode: record i is records[i], with index[i] and offset[i] for error messages.
struct RecordList {
  std::vector<wire::Span> records;
  std::vector<int64_t> index;
  std::vector<uint64_t> offset;
  size_t size() const { return records.size(); }
};

// Decodes every record into `target` on up to `workers` threads. The records are cut into a few slices
// per worker, handed out through a counter (a worker the OS does not schedule leaves its share to the
// others), each decoded into its own decoder and appended in order. With skip_corrupt, malformed
// Examples (CorruptRecordError) are left out and listed in *skipped in record order; other errors always
// raise. `path` names the source in errors. Returns the number of rows appended. `spare` (optional)
// keeps the slices' decoders between calls, so their buffers are not grown again for every batch.
using DecoderPool = std::vector<std::unique_ptr<ExampleDecoder>>;
int64_t decode_parallel(ExampleDecoder& target, const RecordList& list, const std::string& path, int workers,
                        bool skip_corrupt, std::vector<SkippedExample>* skipped, DecoderPool* spare = nullptr);
// The same for records read into a chunk.
int64_t decode_parallel(ExampleDecoder& target, const RecordChunk& chunk, const std::string& path, int workers,
                        bool skip_corrupt, std::vector<SkippedExample>* skipped, DecoderPool* spare = nullptr);

}  // namespace tfforge::record
