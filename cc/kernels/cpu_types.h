// CPU element types and scalar conversions shared by the *_cpu.cc kernels. float16 and bfloat16 are
// 16-bit patterns (layout-compatible with Eigen::half / Eigen::bfloat16); arithmetic is in float32.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels.h"  // relative: also resolves in the installed include/tfforge/kernels/

namespace tfforge::kernels::cpu {

struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

inline float bits_to_float(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
inline uint32_t float_to_bits(float f) { uint32_t u; std::memcpy(&u, &f, 4); return u; }

inline float to_float(float v) { return v; }
inline float to_float(bf16 v) { return bits_to_float(uint32_t(v.bits) << 16); }
inline float to_float(f16 v) {
  const uint32_t sign = uint32_t(v.bits & 0x8000u) << 16;
  const uint32_t exp = (v.bits >> 10) & 0x1fu;
  uint32_t man = v.bits & 0x3ffu;
  if (exp == 0x1f) return bits_to_float(sign | 0x7f800000u | (man << 13));  // Inf / NaN
  if (exp != 0) return bits_to_float(sign | ((exp + 112) << 23) | (man << 13));
  if (man == 0) return bits_to_float(sign);
  // Subnormal half: value = man * 2^-24, exact in float.
  float f = float(man) * 5.9604644775390625e-8f;
  return sign ? -f : f;
}

template <class T> T from_float(float f);
template <> inline float from_float<float>(float f) { return f; }
template <> inline bf16 from_float<bf16>(float f) {
  uint32_t u = float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40u)};  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest even
  return bf16{uint16_t(u >> 16)};
}
template <> inline f16 from_float<f16>(float f) {
  const uint32_t u = float_to_bits(f);
  const uint16_t sign = uint16_t((u >> 16) & 0x8000u);
  const uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u) return f16{uint16_t(sign | 0x7e00u)};            // NaN
  if (abs >= 0x477ff000u) return f16{uint16_t(sign | 0x7c00u)};           // rounds to >= 65520: Inf
  if (abs < 0x38800000u) {                                                // below 2^-14: subnormal or 0
    // Adding 0.5 moves the value's subnormal-half bits into the float mantissa, rounding to even.
    const float shifted = bits_to_float(abs) + 0.5f;
    return f16{uint16_t(sign | uint16_t(float_to_bits(shifted) - 0x3f000000u))};
  }
  uint32_t m = abs + 0xc8000fffu + ((abs >> 13) & 1u);  // rebias exponent (-112 << 23) and round to even
  return f16{uint16_t(sign | uint16_t(m >> 13))};
}

template <class T> inline float load(const T* p, int64_t i) { return to_float(p[i]); }
template <class T> inline void store(T* p, int64_t i, float v) { p[i] = from_float<T>(v); }

// True when the CPU runs AVX2 + FMA + F16C, the instruction sets of the vector paths.
bool has_avx2();

// Calls fn with a typed null pointer tag for dtype d: fn((float*)0), fn((f16*)0) or fn((bf16*)0).
template <class Fn>
auto dispatch(DType d, Fn&& fn) {
  switch (d) {
    case DType::kFloat16: return fn(static_cast<f16*>(nullptr));
    case DType::kBFloat16: return fn(static_cast<bf16*>(nullptr));
    default: return fn(static_cast<float*>(nullptr));
  }
}

}  // namespace tfforge::kernels::cpu
