#include "graph/sink.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

#include "record/crc32c.h"

namespace tfforge::graph {

namespace {
constexpr size_t kBufferSize = 1 << 20;
constexpr size_t kAlign = 4096;  // O_DIRECT: buffer address, sizes and offsets (any logical block size up to a page)
}  // namespace

void Sink::put_stored(const StoredBytes& s) {
  std::vector<uint8_t> chunk(size_t(std::min<uint64_t>(s.size(), kBufferSize)));
  uint32_t crc = 0;
  for (uint64_t at = 0; at < s.size();) {
    size_t n = size_t(std::min<uint64_t>(chunk.size(), s.size() - at));
    s.read(at, chunk.data(), n);
    crc = crc32c::extend(crc, chunk.data(), n);
    put(chunk.data(), n);
    at += n;
  }
  s.finish(crc);
}

void MemorySink::put_stored(const StoredBytes& s) {
  s.read(0, p_, size_t(s.size()));
  uint32_t crc = crc32c::value(p_, size_t(s.size()));
  p_ += s.size();
  s.finish(crc);
}

AtomicFileSink::AtomicFileSink(const std::string& path, bool direct) : file_(path, "GraphError") {
  if (direct && file_.set_direct(true)) {
    void *a = nullptr, *b = nullptr;
    if (::posix_memalign(&a, kAlign, kDirectBuffer) == 0) block_.reset(static_cast<uint8_t*>(a));
    if (::posix_memalign(&b, kAlign, kDirectBuffer) == 0) spare_.reset(static_cast<uint8_t*>(b));
    if (block_ && spare_) return;
    block_.reset();
    spare_.reset();
    file_.set_direct(false);
  }
  buf_.reserve(kBufferSize);
}

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

// Direct mode: the full block goes out in one O_DIRECT write at a block-aligned offset, on a second
// thread, while the other block fills. A failed write is rethrown here or by commit().
void AtomicFileSink::flush_block() {
  wait_block();
  std::swap(block_, spare_);
  const uint8_t* full = spare_.get();
  size_t n = fill_;
  fill_ = 0;
  pending_ = std::async(std::launch::async, [this, full, n] { write_all(full, n); });
}

void AtomicFileSink::wait_block() {
  if (pending_.valid()) pending_.get();
}

void AtomicFileSink::put(const void* data, size_t n) {
  if (block_) {
    if (n >= kBufferSize / 4) prefault(data, n);
    const uint8_t* b = static_cast<const uint8_t*>(data);
    while (n > 0) {
      size_t k = std::min(n, kDirectBuffer - fill_);
      std::memcpy(block_.get() + fill_, b, k);
      fill_ += k;
      b += k;
      n -= k;
      if (fill_ == kDirectBuffer) flush_block();
    }
    return;
  }
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

// The CRC is computed on the block's bytes after they were read and before they are written: the
// bytes in the file are exactly the bytes checked.
void AtomicFileSink::put_stored(const StoredBytes& s) {
  if (!block_) return Sink::put_stored(s);
  uint32_t crc = 0;
  for (uint64_t at = 0; at < s.size();) {
    size_t n = size_t(std::min<uint64_t>(kDirectBuffer - fill_, s.size() - at));
    uint8_t* p = block_.get() + fill_;
    s.read(at, p, n);
    crc = crc32c::extend(crc, p, n);
    fill_ += n;
    at += n;
    if (fill_ == kDirectBuffer) flush_block();
  }
  s.finish(crc);
}

void AtomicFileSink::commit() {
  if (block_) {
    wait_block();
    size_t whole = fill_ & ~(kAlign - 1);
    if (whole) write_all(block_.get(), whole);
    file_.set_direct(false);  // the partial last block: buffered
    if (fill_ > whole) write_all(block_.get() + whole, fill_ - whole);
    fill_ = 0;
  }
  flush();
  if (reserved_ > file_.bytes_written()) file_.truncate(file_.bytes_written());
  file_.commit();
}

}  // namespace tfforge::graph
