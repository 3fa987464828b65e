// Verifying one large uncompressed TFRecord file on several cores. Following the framing is serial
// (each length leads to the next record) but cheap; checking the data CRCs (and parsing Examples) is
// the work, and it splits by record. Only the clean case is fast: at the first sign of trouble the
// caller runs the serial reader, which reports every error with its record and offset and resyncs the
// way `tfforge records verify` always has.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "graph/mapped_file.h"

namespace tfforge::record {

struct ParallelVerify {
  int workers = 2;
  bool examples = false;         // also parse each record as an Example (strict)
  uint64_t max_record = uint64_t(1) << 31;
  std::function<bool()> stop;    // polled between runs of records; true throws Interrupted
};

// Number of records when every header, length, data CRC (and Example) is good and the file did not
// change while it was read; nullopt otherwise.
std::optional<int64_t> verify_mapped(const graph::MappedFile& file, const ParallelVerify& options);

}  // namespace tfforge::record
