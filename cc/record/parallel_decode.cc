#include "record/parallel_decode.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <memory>

#include "error.h"
#include "record/thread_pool.h"

namespace tfforge::record {
namespace {

struct Slice {
  size_t begin = 0, end = 0;
  std::unique_ptr<ExampleDecoder> dec;  // null for the first slice, which decodes straight into the target
  std::vector<SkippedExample> skipped;
  std::exception_ptr error;             // the first error; records after it were not decoded
};

void decode_slice(ExampleDecoder& dec, Slice& s, const RecordList& list, const std::string& path, bool skip_corrupt) {
  try {
    for (size_t i = s.begin; i < s.end; ++i) {
      try {
        dec.decode(list.records[i], RecordContext{&path, list.index[i], list.offset[i]});
      } catch (const Error& e) {
        if (e.kind != "CorruptRecordError" || !skip_corrupt) throw;
        s.skipped.push_back({list.index[i], list.offset[i], e.what()});
      }
    }
  } catch (...) {
    s.error = std::current_exception();
  }
}

}  // namespace

int64_t decode_parallel(ExampleDecoder& target, const RecordList& list, const std::string& path, int workers,
                        bool skip_corrupt, std::vector<SkippedExample>* skipped, DecoderPool* spare) {
  const size_t n = list.size();
  // Slices of at least 32 records (below that, hand-over costs more than it saves), 4 per worker.
  const size_t w = std::min<size_t>(std::max(workers, 1), std::max<size_t>(1, n / 128));
  const size_t count = w == 1 ? 1 : std::min<size_t>(4 * w, std::max<size_t>(1, n / 32));
  const int64_t before = target.rows();
  std::vector<Slice> slices(count);
  for (size_t k = 0; k < count; ++k) {
    slices[k].begin = n * k / count;
    slices[k].end = n * (k + 1) / count;
    if (k == 0) continue;
    if (spare && !spare->empty()) {
      slices[k].dec = std::move(spare->back());
      spare->pop_back();
    } else {
      slices[k].dec = std::make_unique<ExampleDecoder>(target.spec(), target.strict());
    }
  }
  std::atomic<size_t> next{0};
  run_parallel(int(w), [&](int) {
    for (size_t k; (k = next.fetch_add(1)) < count;) {
      Slice& s = slices[k];
      decode_slice(s.dec ? *s.dec : target, s, list, path, skip_corrupt);
    }
  });
  // In record order: append each slice's rows and skips, and stop at the first slice that failed.
  std::exception_ptr error;
  for (Slice& s : slices) {
    if (!error) {
      if (s.dec) target.append_rows(*s.dec);
      if (skipped) skipped->insert(skipped->end(), s.skipped.begin(), s.skipped.end());
      error = s.error;
    }
    if (s.dec && spare) {
      s.dec->reset();
      spare->push_back(std::move(s.dec));
    }
  }
  if (error) std::rethrow_exception(error);
  return target.rows() - before;
}

int64_t decode_parallel(ExampleDecoder& target, const RecordChunk& chunk, const std::string& path, int workers,
                        bool skip_corrupt, std::vector<SkippedExample>* skipped, DecoderPool* spare) {
  RecordList list;
  list.records.reserve(chunk.size());
  for (size_t i = 0; i < chunk.size(); ++i) list.records.push_back(chunk.at(i));
  list.index = chunk.index;
  list.offset = chunk.offset;
  return decode_parallel(target, list, path, workers, skip_corrupt, skipped, spare);
}

}  // namespace tfforge::record
