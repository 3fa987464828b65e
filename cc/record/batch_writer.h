// Parallel encoding of a column batch into TFRecord files. Rows are cut into chunks of a few MB; worker
// threads take chunks in a fixed order, encode them into their own buffers, and append each chunk to its
// file strictly in sequence, so the bytes are identical whatever the number of workers. Chunks of
// different files interleave, so several shards (and their compressors) run at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "record/columns.h"
#include "record/file_writer.h"
#include "record/thread_pool.h"

namespace tfforge::record {

struct WriteTarget {
  FileWriter* file;
  int64_t begin, end;  // rows of the batch that go to this file, in order
};

// Encodes and appends rows; workers <= 0 means one per hardware thread. `interrupted`, if given, is
// called by the calling thread between chunks (every few milliseconds); when it returns true the
// workers stop and Interrupted is thrown.
void write_batch(const Batch& batch, const std::vector<WriteTarget>& targets, int workers,
                 const std::function<bool()>& interrupted = nullptr);

// Encodes rows [begin, end) into one buffer: framed TFRecords, or bare Examples back to back.
// offsets (end - begin + 1 entries) receives where each record starts when not null.
struct Encoded {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  std::vector<int64_t> offsets;
};
Encoded encode_rows(const Batch& batch, int64_t begin, int64_t end, bool framed, int workers);

// The two halves of encode_rows, for callers that bring their own (reused) output memory:
// record offsets (end - begin + 1, from 0), then the bytes written at out[offsets[i]].
std::vector<int64_t> size_rows(const Batch& batch, int64_t begin, int64_t end, bool framed, int workers);
void encode_rows_into(const Batch& batch, int64_t begin, int64_t end, bool framed, int workers,
                      const std::vector<int64_t>& offsets, uint8_t* out);

}  // namespace tfforge::record
