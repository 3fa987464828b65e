#include "record/parallel_verify.h"

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "error.h"
#include "record/crc32c.h"
#include "record/example_decoder.h"
#include "record/framing.h"
#include "record/thread_pool.h"

namespace tfforge::record {
namespace {

struct Located {
  uint64_t offset;  // of the header
  uint64_t length;  // of the data
};

constexpr uint64_t kRunBytes = uint64_t(8) << 20;  // records framed per parallel round
constexpr size_t kGrain = 32;                       // records a thread takes at a time

// Appends the records of up to kRunBytes starting at *at; false when the framing is broken.
bool frame_run(wire::Span file, uint64_t max_record, uint64_t* at, std::vector<Located>* run) {
  uint64_t bytes = 0;
  while (*at < file.size && bytes < kRunBytes) {
    const uint64_t left = file.size - *at;
    if (left < kFramingOverhead) return false;
    const uint8_t* h = file.data + *at;
    uint64_t len;
    std::memcpy(&len, h, 8);
    if (!header_ok(h) || len > max_record || len > left - kFramingOverhead)
      return false;
    run->push_back({*at, len});
    *at += kFramingOverhead + len;
    bytes += kFramingOverhead + len;
  }
  return true;
}

bool record_ok(wire::Span file, const std::string* path, const Located& r, int64_t index, bool examples) {
  const uint8_t* data = file.data + r.offset + kHeaderSize;
  uint32_t stored;
  std::memcpy(&stored, data + r.length, 4);
  if (crc32c::mask(crc32c::value(data, r.length)) != stored) return false;
  if (!examples) return true;
  try {
    scan_example({data, size_t(r.length)}, RecordContext{path, index, r.offset}, /*strict=*/true);
  } catch (const Error&) {
    return false;
  }
  return true;
}

}  // namespace

std::optional<int64_t> verify_mapped(const graph::MappedFile& file, const ParallelVerify& options) {
  const wire::Span all = file.span();
  // Two runs in flight: while the threads check one, the first of them frames the next.
  std::vector<Located> run, next_run;
  uint64_t at = 0;
  if (!frame_run(all, options.max_record, &at, &run)) return std::nullopt;
  int64_t records = 0;
  while (!run.empty()) {
    std::atomic<size_t> next{0};
    std::atomic<bool> bad{false};
    bool framed = true;
    next_run.clear();
    run_parallel(options.workers, [&](int worker) {
      if (worker == 0) framed = frame_run(all, options.max_record, &at, &next_run);
      for (size_t i; !bad.load(std::memory_order_relaxed) && (i = next.fetch_add(kGrain)) < run.size();)
        for (size_t j = i; j < std::min(i + kGrain, run.size()); ++j)
          if (!record_ok(all, &file.path(), run[j], records + int64_t(j), options.examples)) bad = true;
    });
    if (bad || !framed) return std::nullopt;
    records += int64_t(run.size());
    run.swap(next_run);
    if (options.stop && options.stop()) throw Interrupted();
  }
  if (file.changed()) return std::nullopt;  // the serial pass reads what is there now
  return records;
}

}  // namespace tfforge::record
