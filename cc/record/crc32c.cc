#include "record/crc32c.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <nmmintrin.h>
#define TFFORGE_CRC_X86 1
#endif

namespace tfforge::crc32c {
namespace {

constexpr uint32_t kPoly = 0x82f63b78u;  // reflected Castagnoli polynomial

struct Tables {
  uint32_t slice[8][256];
  Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (kPoly & (0u - (c & 1)));
      slice[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i)
      for (int t = 1; t < 8; ++t) slice[t][i] = (slice[t - 1][i] >> 8) ^ slice[0][slice[t - 1][i] & 0xff];
  }
};
const Tables& tables() {
  static const Tables t;
  return t;
}

inline uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Advances the raw (un-inverted) CRC register over the bytes.
uint32_t raw_portable(uint32_t c, const uint8_t* p, size_t n) {
  const auto& t = tables().slice;
  while (n && (reinterpret_cast<uintptr_t>(p) & 7)) { c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff]; --n; }
  while (n >= 8) {
    uint64_t w = load64(p) ^ c;
    c = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
        t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n--) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xff];
  return c;
}

#ifdef TFFORGE_CRC_X86
// Stream lengths for the interleaved path: three independent crc32 chains hide the instruction's
// 3-cycle latency; the partial CRCs are then combined with a precomputed "shift by n zero bytes".
constexpr size_t kLong = 8192;
constexpr size_t kShort = 256;
constexpr size_t kTiny = 64;  // what kShort leaves of a record (up to 767 bytes), mostly

__attribute__((target("sse4.2"))) uint32_t raw_hw_serial(uint32_t c, const uint8_t* p, size_t n) {
  uint64_t c64 = c;
  while (n && (reinterpret_cast<uintptr_t>(p) & 7)) { c64 = _mm_crc32_u8(uint32_t(c64), *p++); --n; }
  while (n >= 8) { c64 = _mm_crc32_u64(c64, load64(p)); p += 8; n -= 8; }
  uint32_t c32 = uint32_t(c64);
  while (n--) c32 = _mm_crc32_u8(c32, *p++);
  return c32;
}

// Linear operator "append n zero bytes to the register", as four byte-indexed tables.
struct ShiftTable {
  uint32_t t[4][256];
  explicit ShiftTable(size_t n) {
    uint32_t basis[32];
    static const uint8_t zeros[kLong] = {};
    for (int bit = 0; bit < 32; ++bit) basis[bit] = raw_hw_serial(1u << bit, zeros, n);
    for (int byte = 0; byte < 4; ++byte)
      for (uint32_t v = 0; v < 256; ++v) {
        uint32_t r = 0;
        for (int b = 0; b < 8; ++b)
          if (v & (1u << b)) r ^= basis[byte * 8 + b];
        t[byte][v] = r;
      }
  }
  uint32_t apply(uint32_t c) const {
    return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
  }
};

template <size_t kBlock>
__attribute__((target("sse4.2"))) inline uint32_t three_streams(uint32_t c0, const uint8_t*& p, size_t& n,
                                                                const ShiftTable& shift) {
  while (n >= 3 * kBlock) {
    uint64_t a = c0, b = 0, c = 0;
    const uint8_t* pa = p;
    const uint8_t* pb = p + kBlock;
    const uint8_t* pc = p + 2 * kBlock;
    for (size_t i = 0; i < kBlock; i += 8) {
      a = _mm_crc32_u64(a, load64(pa + i));
      b = _mm_crc32_u64(b, load64(pb + i));
      c = _mm_crc32_u64(c, load64(pc + i));
    }
    c0 = shift.apply(shift.apply(uint32_t(a)) ^ uint32_t(b)) ^ uint32_t(c);
    p += 3 * kBlock;
    n -= 3 * kBlock;
  }
  return c0;
}

__attribute__((target("sse4.2"))) uint32_t raw_hw(uint32_t c, const uint8_t* p, size_t n) {
  if (n >= 3 * kTiny) {
    static const ShiftTable long_shift(kLong);
    static const ShiftTable short_shift(kShort);
    static const ShiftTable tiny_shift(kTiny);
    c = three_streams<kLong>(c, p, n, long_shift);
    c = three_streams<kShort>(c, p, n, short_shift);
    c = three_streams<kTiny>(c, p, n, tiny_shift);
  }
  return raw_hw_serial(c, p, n);
}
#endif

bool detect_hardware() {
#ifdef TFFORGE_CRC_X86
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

bool use_hardware() {
  static const bool use = [] {
    const char* forced = std::getenv("TFFORGE_CRC32C");
    if (forced && std::strcmp(forced, "portable") == 0) return false;
    return detect_hardware();
  }();
  return use;
}

}  // namespace

bool hardware_available() {
  static const bool available = detect_hardware();
  return available;
}

const char* active_path() { return use_hardware() ? "sse4.2" : "portable"; }

uint32_t extend_portable(uint32_t crc, const void* data, size_t n) {
  return ~raw_portable(~crc, static_cast<const uint8_t*>(data), n);
}

uint32_t extend_hardware(uint32_t crc, const void* data, size_t n) {
#ifdef TFFORGE_CRC_X86
  if (hardware_available()) return ~raw_hw(~crc, static_cast<const uint8_t*>(data), n);
#endif
  return extend_portable(crc, data, n);
}

uint32_t extend(uint32_t crc, const void* data, size_t n) {
  return use_hardware() ? extend_hardware(crc, data, n) : extend_portable(crc, data, n);
}

}  // namespace tfforge::crc32c
