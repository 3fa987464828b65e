#include "graph/sink.h"

#include <sys/mman.h>
#include <unistd.h>

namespace tfforge::graph {

namespace {
constexpr size_t kBufferSize = 1 << 20;
}

AtomicFileSink::AtomicFileSink(const std::string& path) : file_(path, "GraphError") { buf_.reserve(kBufferSize); }

void AtomicFileSink::reserve(uint64_t size) {
  if (file_.reserve(size)) reserved_ = size;  // unsupported: the writes allocate as usual
}

void AtomicFileSink::write_all(const void* data, size_t n) { file_.write(data, n); }

// Big spans usually point into a memory-mapped input that nothing has touched yet; mapping its pages
// in one call is much cheaper than one page fault per 4 KB inside write(). Best effort: kernels
// before 5.14 lack MADV_POPULATE_READ and the write faults the pages in as usual.
void AtomicFileSink::prefault(const void* data, size_t n) {
#ifdef MADV_POPULATE_READ
  static const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  uintptr_t start = uintptr_t(data) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(start), uintptr_t(data) + n - start, MADV_POPULATE_READ);
#else
  (void)data;
  (void)n;
#endif
}

void AtomicFileSink::flush() {
  if (!buf_.empty()) write_all(buf_.data(), buf_.size());
  buf_.clear();
}

void AtomicFileSink::put(const void* data, size_t n) {
  if (n >= kBufferSize / 4) {  // big spans skip the buffer
    flush();
    prefault(data, n);
    write_all(data, n);
    return;
  }
  if (buf_.size() + n > kBufferSize) flush();
  const uint8_t* b = static_cast<const uint8_t*>(data);
  buf_.insert(buf_.end(), b, b + n);
}

void AtomicFileSink::commit() {
  flush();
  if (reserved_ > file_.bytes_written()) file_.truncate(file_.bytes_written());
  file_.commit();
}

}  // namespace tfforge::graph
