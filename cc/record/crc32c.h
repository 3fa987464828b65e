// CRC32C (Castagnoli), the checksum of TFRecord framing. A hardware path (SSE4.2 crc32 instruction,
// three interleaved streams for buffers of 192 bytes and more) is chosen at run time when the CPU has it; the portable
// path is slicing-by-8 over tables.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tfforge::crc32c {

// Continues a finished CRC32C `crc` over `n` more bytes: extend(0, d, n) is the CRC32C of d.
uint32_t extend(uint32_t crc, const void* data, size_t n);
uint32_t extend_portable(uint32_t crc, const void* data, size_t n);
// Only valid when hardware_available(); falls back to portable otherwise.
uint32_t extend_hardware(uint32_t crc, const void* data, size_t n);

bool hardware_available();
// The path extend() uses: "sse4.2" or "portable". TFFORGE_CRC32C=portable in the environment forces
// the portable path (read once, at first use).
const char* active_path();

inline uint32_t value(const void* data, size_t n) { return extend(0, data, n); }

// TFRecord stores CRCs masked, so that a CRC of data that itself holds CRCs stays well distributed.
constexpr uint32_t kMaskDelta = 0xa282ead8u;
inline uint32_t mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t unmask(uint32_t masked) {
  uint32_t rot = masked - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

}  // namespace tfforge::crc32c
