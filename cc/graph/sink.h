// Byte sinks for the graph writers: a preallocated buffer, or a file written through a small
// buffer with large spans (tensor bytes) handed to write(2) straight from the mapped input.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

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
class AtomicFileSink : public Sink {
 public:
  explicit AtomicFileSink(const std::string& path);
  using Sink::put;
  void put(const void* data, size_t n) override;
  void commit();
  // Allocates the file's blocks up front when the final size is known: cheaper than the file
  // system's allocation page by page, and a full disk fails here, before any byte is written.
  void reserve(uint64_t size);

 private:
  void flush();
  void write_all(const void* data, size_t n);
  static void prefault(const void* data, size_t n);
  io::AtomicFile file_;
  uint64_t reserved_ = 0;
  std::vector<uint8_t> buf_;
};

inline size_t field_size(uint32_t field, uint64_t len) {
  return wire::varint_size(wire::make_tag(field, wire::kLengthDelimited)) + wire::varint_size(len) + len;
}

}  // namespace tfforge::graph
