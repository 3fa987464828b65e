// Protobuf wire format primitives: varints, tags, a bounds-checked reader over a byte span and an
// appending writer. No libprotobuf: the schema lives in the code that walks the fields.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace tfforge::wire {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kStartGroup = 3, kEndGroup = 4, kFixed32 = 5 };

// Thrown on malformed bytes; `offset` is relative to the start of the span the reader was given.
class ParseError : public std::runtime_error {
 public:
  ParseError(uint64_t offset, const std::string& what) : std::runtime_error(what), offset(offset) {}
  uint64_t offset;
};

struct Span {
  const uint8_t* data = nullptr;
  size_t size = 0;
  const uint8_t* begin() const { return data; }
  const uint8_t* end() const { return data + size; }
  std::string str() const { return std::string(reinterpret_cast<const char*>(data), size); }
};

// protobuf refuses string fields that are not UTF-8 (overlong forms and surrogates included).
inline bool is_utf8(Span s) {
  const uint8_t* p = s.data;
  const uint8_t* e = s.data + s.size;
  while (p < e) {
    uint8_t c = *p;
    if (c < 0x80) { ++p; continue; }
    int n = (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : -1;
    if (n < 0 || e - p <= n) return false;
    uint32_t cp = c & (0x3f >> n);
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return false;
    p += n + 1;
  }
  return true;
}

inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) { v >>= 7; ++n; }
  return n;
}

inline uint8_t* put_varint(uint8_t* p, uint64_t v) {
  while (v >= 0x80) { *p++ = static_cast<uint8_t>(v | 0x80); v >>= 7; }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

inline uint64_t make_tag(uint32_t field, WireType type) { return (uint64_t(field) << 3) | type; }

class Reader {
 public:
  Reader(const uint8_t* data, size_t size, uint64_t base_offset = 0)
      : start_(data), p_(data), end_(data + size), base_(base_offset) {}
  explicit Reader(Span s, uint64_t base_offset = 0) : Reader(s.data, s.size, base_offset) {}

  bool done() const { return p_ >= end_; }
  // Offset of the cursor, counting from the base offset the reader was created with.
  uint64_t offset() const { return base_ + uint64_t(p_ - start_); }
  const uint8_t* cursor() const { return p_; }

  uint64_t varint() {
    if (p_ < end_ && !(*p_ & 0x80)) return *p_++;  // one byte: most tags and lengths
    return varint_slow();
  }

  // Reads a tag; returns false at the end of the span. Field number 0 is invalid in protobuf.
  bool next(uint32_t* field, WireType* type) {
    if (p_ >= end_) return false;
    const uint8_t* at = p_;
    uint64_t tag = varint();
    *field = static_cast<uint32_t>(tag >> 3);
    *type = static_cast<WireType>(tag & 7);
    if (*field == 0 || tag > 0xffffffffull || *type > kFixed32) bad_tag(at, tag);
    return true;
  }

  uint32_t fixed32() {
    need(4);
    uint32_t v;
    std::memcpy(&v, p_, 4);
    p_ += 4;
    return v;
  }
  uint64_t fixed64() {
    need(8);
    uint64_t v;
    std::memcpy(&v, p_, 8);
    p_ += 8;
    return v;
  }
  Span bytes() {
    uint64_t n = varint();
    if (n > uint64_t(end_ - p_)) too_long(n);
    Span s{p_, size_t(n)};
    p_ += n;
    return s;
  }
  void skip(WireType type) {
    switch (type) {
      case kVarint: varint(); return;
      case kFixed64: need(8); p_ += 8; return;
      case kFixed32: need(4); p_ += 4; return;
      case kLengthDelimited: bytes(); return;
      default: fail("unsupported wire type (groups) " + std::to_string(type));
    }
  }
  [[noreturn]] void fail(const std::string& what) const { throw ParseError(offset(), what); }

 private:
  // Out of line and cold, so the readers above stay small enough to inline into parsing loops.
  __attribute__((noinline)) uint64_t varint_slow() {
    uint64_t result = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) fail("truncated varint");
      uint8_t b = *p_++;
      result |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
    }
    fail("varint longer than 10 bytes");
  }
  [[noreturn]] __attribute__((noinline, cold)) void bad_tag(const uint8_t* at, uint64_t tag) const {
    const uint64_t tag_offset = base_ + uint64_t(at - start_);
    if ((tag >> 3) == 0 || tag > 0xffffffffull) throw ParseError(tag_offset, "invalid field tag " + std::to_string(tag));
    throw ParseError(tag_offset, "invalid wire type " + std::to_string(tag & 7));
  }
  [[noreturn]] __attribute__((noinline, cold)) void too_long(uint64_t n) const {
    fail("length " + std::to_string(n) + " runs past the end of the enclosing message");
  }
  void need(size_t n) {
    if (size_t(end_ - p_) < n) fail("truncated fixed-width field");
  }
  const uint8_t* start_;
  const uint8_t* p_;
  const uint8_t* end_;
  uint64_t base_;
};

// Appending writer into a growable byte vector.
class Writer {
 public:
  std::vector<uint8_t>& buffer() { return buf_; }
  size_t size() const { return buf_.size(); }
  void reserve(size_t n) { buf_.reserve(n); }

  void varint(uint64_t v) {
    uint8_t tmp[10];
    append(tmp, size_t(put_varint(tmp, v) - tmp));
  }
  void tag(uint32_t field, WireType type) { varint(make_tag(field, type)); }
  void bytes_field(uint32_t field, const void* data, size_t n) {
    tag(field, kLengthDelimited);
    varint(n);
    append(data, n);
  }
  void varint_field(uint32_t field, uint64_t v) {
    tag(field, kVarint);
    varint(v);
  }
  void fixed32(uint32_t v) { append(&v, 4); }
  void fixed64(uint64_t v) { append(&v, 8); }
  void append(const void* data, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(data);
    buf_.insert(buf_.end(), b, b + n);
  }

 private:
  std::vector<uint8_t> buf_;
};

}  // namespace tfforge::wire
