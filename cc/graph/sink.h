// Byte sinks for the graph writers: a preallocated buffer, or a file written through a small
// buffer with large spans (tensor bytes) handed to write(2) straight from the mapped input. Bytes
// stored in a file (StoredBytes) are streamed: read in chunks into the sink's own memory, their CRC32C
// computed over exactly the bytes that are then written, and checked when the range is done.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "graph/stored_bytes.h"
#include "io/atomic_file.h"
#include "wire/wire.h"

namespace tfforge::graph {

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void put(const void* data, size_t n) = 0;
  void put(wire::Span s) { put(s.data, s.size); }
  void varint(uint64_t v) {
    uint8_t tmp[10];
    put(tmp, size_t(wire::put_varint(tmp, v) - tmp));
  }
  void tag(uint32_t field, wire::WireType t) { varint(wire::make_tag(field, t)); }
  // Tag and length of a length-delimited field whose payload follows.
  void header(uint32_t field, uint64_t len) {
    tag(field, wire::kLengthDelimited);
    varint(len);
  }
  void bytes_field(uint32_t field, const void* data, size_t n) {
    header(field, n);
    put(data, n);
  }
  void string_field(uint32_t field, const std::string& s) { bytes_field(field, s.data(), s.size()); }
  // Writes the stored range's bytes (default: through put() in chunks of a small buffer).
  virtual void put_stored(const StoredBytes& s);
};

class MemorySink : public Sink {
 public:
  explicit MemorySink(uint8_t* out) : p_(out) {}
  using Sink::put;
  void put(const void* data, size_t n) override {
    if (n == 0) return;  // an attr without a value has an empty span with no data pointer
    std::memcpy(p_, data, n);
    p_ += n;
  }
  void put_stored(const StoredBytes& s) override;
  uint8_t* position() const { return p_; }

 private:
  uint8_t* p_;
};

class StringSink : public Sink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  using Sink::put;
  void put(const void* data, size_t n) override { out_->append(static_cast<const char*>(data), n); }

 private:
  std::string* out_;
};

// Writes `path` atomically through io::AtomicFile (a temporary file beside it, renamed by commit());
// destroying an uncommitted sink removes the temporary file, so a failed write never leaves a partial
// output.
//
// With `direct`, the file is written with O_DIRECT from two aligned buffers of kDirectBuffer bytes (one
// fills while a second thread writes the other; reused, so their pages are touched once): no page cache
// is allocated for the output, which on a VM whose fresh
// memory is expensive costs more than the disk write itself (537 MB: 1.7 s buffered + fsync, 0.35 s
// direct, here). Stored ranges are read straight into the buffer. The last partial block goes out
// buffered. Where the file system refuses O_DIRECT (or a direct write), the sink writes buffered.
class AtomicFileSink : public Sink {
 public:
  static constexpr uint64_t kDirectThreshold = uint64_t(64) << 20;  // GraphDef::write_file's choice
  static constexpr size_t kDirectBuffer = size_t(8) << 20;

  explicit AtomicFileSink(const std::string& path, bool direct = false);
  using Sink::put;
  void put(const void* data, size_t n) override;
  void put_stored(const StoredBytes& s) override;
  void commit();
  bool direct() const { return block_ != nullptr; }
  // Allocates the file's blocks up front when the final size is known: cheaper than the file
  // system's allocation page by page, and a full disk fails here, before any byte is written.
  void reserve(uint64_t size);

 private:
  void flush();
  void write_all(const void* data, size_t n);
  static void prefault(const void* data, size_t n);
  void flush_block();
  void wait_block();
  using Block = std::unique_ptr<uint8_t, decltype(&std::free)>;
  io::AtomicFile file_;
  uint64_t reserved_ = 0;
  std::vector<uint8_t> buf_;
  // Direct mode: block_ fills while spare_ is written by a second thread (pending_), so reading the
  // weights overlaps writing them. Declared after file_: pending_ is waited for before file_ closes.
  Block block_{nullptr, &std::free}, spare_{nullptr, &std::free};
  size_t fill_ = 0;  // bytes in block_
  std::future<void> pending_;
};

inline size_t field_size(uint32_t field, uint64_t len) {
  return wire::varint_size(wire::make_tag(field, wire::kLengthDelimited)) + wire::varint_size(len) + len;
}

}  // namespace tfforge::graph
