#include "checkpoint/snappy.h"

#include <cstring>
#include <string>

namespace tfforge::checkpoint {

std::vector<uint8_t> snappy_uncompress(wire::Span in, size_t max_size) {
  wire::Reader r(in);
  uint64_t n = r.varint();
  if (n > max_size) r.fail("snappy block claims " + std::to_string(n) + " uncompressed bytes");
  std::vector<uint8_t> out;
  out.reserve(size_t(n));
  const uint8_t* p = r.cursor();
  const uint8_t* end = in.end();
  auto fail = [&](const char* what) { throw wire::ParseError(uint64_t(p - in.data), what); };
  auto take = [&](size_t k) -> uint64_t {  // little-endian k-byte integer
    if (size_t(end - p) < k) fail("truncated snappy element");
    uint64_t v = 0;
    for (size_t i = 0; i < k; ++i) v |= uint64_t(p[i]) << (8 * i);
    p += k;
    return v;
  };
  while (p < end) {
    uint8_t tag = *p++;
    uint64_t len, offset;
    switch (tag & 3) {
      case 0:  // literal: length - 1 in the upper six bits, or in 1-4 following bytes
        len = tag >> 2;
        if (len >= 60) len = take(len - 59);
        len += 1;
        if (uint64_t(end - p) < len) fail("snappy literal runs past the block");
        if (out.size() + len > n) fail("snappy data longer than its declared length");
        out.insert(out.end(), p, p + len);
        p += len;
        continue;
      case 1: len = 4 + ((tag >> 2) & 7); offset = (uint64_t(tag >> 5) << 8) | take(1); break;
      case 2: len = 1 + (tag >> 2); offset = take(2); break;
      default: len = 1 + (tag >> 2); offset = take(4); break;
    }
    if (offset == 0 || offset > out.size()) fail("snappy copy reaches before the start of the output");
    if (out.size() + len > n) fail("snappy data longer than its declared length");
    size_t from = out.size() - size_t(offset);
    for (uint64_t i = 0; i < len; ++i) out.push_back(out[from + i]);  // overlapping copies repeat bytes
  }
  if (out.size() != n) fail("snappy data shorter than its declared length");
  return out;
}

}  // namespace tfforge::checkpoint
