#include "record/parallel_decode.h"

#include <algorithm>
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

void decode_slice(ExampleDecoder& dec, Slice& s, const RecordChunk& chunk, const std::string& path, bool skip_corrupt) {
  try {
    for (size_t i = s.begin; i < s.end; ++i) {
      try {
        dec.decode(chunk.at(i), RecordContext{&path, chunk.index[i], chunk.offset[i]});
      } catch (const Error& e) {
        if (e.kind != "CorruptRecordError" || !skip_corrupt) throw;
        s.skipped.push_back({chunk.index[i], chunk.offset[i], e.what()});
      }
    }
  } catch (...) {
    s.error = std::current_exception();
  }
}

}  // namespace

int64_t decode_parallel(ExampleDecoder& target, const RecordChunk& chunk, const std::string& path, int workers,
                        bool skip_corrupt, std::vector<SkippedExample>* skipped) {
  size_t n = chunk.size();
  // Below a few dozen records per worker, thread start-up costs more than it saves.
  size_t max_workers = std::max<size_t>(1, n / 32);
  size_t w = std::min<size_t>(std::max(workers, 1), max_workers);
  int64_t before = target.rows();
  std::vector<Slice> slices(w);
  for (size_t k = 0; k < w; ++k) {
    slices[k].begin = n * k / w;
    slices[k].end = n * (k + 1) / w;
    if (k > 0) slices[k].dec = std::make_unique<ExampleDecoder>(target.spec());
  }
  run_parallel(int(w), [&](int k) {
    Slice& s = slices[size_t(k)];
    decode_slice(s.dec ? *s.dec : target, s, chunk, path, skip_corrupt);
  });
  // In record order: append each slice's rows and skips, and stop at the first slice that failed.
  for (size_t k = 0; k < w; ++k) {
    Slice& s = slices[k];
    if (s.dec) target.append_rows(*s.dec);
    if (skipped) skipped->insert(skipped->end(), s.skipped.begin(), s.skipped.end());
    if (s.error) std::rethrow_exception(s.error);
  }
  return target.rows() - before;
}

}  // namespace tfforge::record
