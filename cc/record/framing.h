// TFRecord framing: uint64 length (little-endian), masked CRC32C of those 8 bytes, the data, the
// masked CRC32C of the data. Header-only so every writer and reader of framed records (TFRecord files,
// TensorBoard event files) shares one definition.
#pragma once

#include <cstdint>
#include <cstring>

#include "record/crc32c.h"

namespace tfforge::record {

constexpr size_t kHeaderSize = 12;  // length + its CRC
constexpr size_t kFooterSize = 4;   // data CRC
constexpr size_t kFramingOverhead = kHeaderSize + kFooterSize;

inline void encode_header(uint8_t out[kHeaderSize], uint64_t length) {
  std::memcpy(out, &length, 8);  // TFRecord is little-endian; so are all supported hosts
  uint32_t crc = crc32c::mask(crc32c::value(out, 8));
  std::memcpy(out + 8, &crc, 4);
}

// Whether a header's length CRC matches its length: a record can start here.
inline bool header_ok(const uint8_t h[kHeaderSize]) {
  uint32_t stored;
  std::memcpy(&stored, h + 8, 4);
  return crc32c::mask(crc32c::value(h, 8)) == stored;
}

inline void encode_footer(uint8_t out[kFooterSize], const void* data, size_t n) {
  uint32_t crc = crc32c::mask(crc32c::value(data, n));
  std::memcpy(out, &crc, 4);
}

// Writes header + data + footer to `out`, which must hold n + kFramingOverhead bytes; returns the end.
inline uint8_t* frame(uint8_t* out, const void* data, size_t n) {
  encode_header(out, n);
  std::memcpy(out + kHeaderSize, data, n);
  encode_footer(out + kHeaderSize + n, data, n);
  return out + kHeaderSize + n + kFooterSize;
}

}  // namespace tfforge::record
