#include "checkpoint/slice_key.h"

#include <cstdint>

namespace tfforge::checkpoint {
namespace {

void put_num_increasing(std::string& out, uint64_t v) {
  char buf[8];
  int n = 0;
  for (; v; v >>= 8) buf[7 - n++] = char(v & 0xff);
  out.push_back(char(n));
  out.append(buf + 8 - n, size_t(n));
}

void put_string(std::string& out, const std::string& s) {
  for (char c : s) {
    out.push_back(c);
    if (c == '\0') out.push_back('\xff');
    else if (c == '\xff') out.push_back('\0');
  }
  out.append("\0\1", 2);
}

void put_signed_increasing(std::string& out, int64_t v) {
  uint64_t x = v < 0 ? ~uint64_t(v) : uint64_t(v);
  int bits = 0;
  while (bits < 64 && (x >> bits)) ++bits;
  int len = bits / 7 + 1;  // n bytes hold the range [-2^(7n-1), 2^(7n-1))
  // The header: `len` bits equal to the sign (1 for v >= 0) then one opposite bit, spread over the
  // first two bytes; the value, sign-extended to 10 bytes big-endian, fills the rest.
  static const uint8_t kHeader[11][2] = {{0, 0}, {0x80, 0}, {0xc0, 0}, {0xe0, 0}, {0xf0, 0}, {0xf8, 0},
                                         {0xfc, 0}, {0xfe, 0}, {0xff, 0}, {0xff, 0x80}, {0xff, 0xc0}};
  uint8_t buf[10];
  uint8_t sign = v < 0 ? 0xff : 0;
  buf[0] = buf[1] = sign;
  for (int i = 0; i < 8; ++i) buf[2 + i] = uint8_t(uint64_t(v) >> (56 - 8 * i));
  uint8_t* begin = buf + 10 - len;
  begin[0] ^= kHeader[len][0];
  if (len >= 2) begin[1] ^= kHeader[len][1];
  out.append(reinterpret_cast<const char*>(begin), size_t(len));
}

}  // namespace

std::string slice_key(const std::string& name, const Slice& slice) {
  std::string out;
  put_num_increasing(out, 0);
  put_string(out, name);
  put_num_increasing(out, slice.size());
  for (const Extent& e : slice) {
    put_signed_increasing(out, e.length < 0 ? 0 : e.start);
    put_signed_increasing(out, e.length < 0 ? -1 : e.length);
  }
  return out;
}

}  // namespace tfforge::checkpoint
