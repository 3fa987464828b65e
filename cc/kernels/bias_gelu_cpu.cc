// Bias add + GELU on the CPU: elementwise per row, with vectorized erf/exp on AVX2.
#include <cmath>

#include "kernels/bias_gelu.h"
#include "kernels/cpu_avx2.h"
#include "kernels/cpu_rows.h"
#include "kernels/cpu_types.h"

namespace tfforge::kernels {
namespace cpu {
namespace {

using namespace gelu;

inline float gelu_value(float z, bool approx) {
  if (approx) return 0.5f * z * (1.0f + std::tanh(kSqrt2OverPi * (z + kCubic * z * z * z)));
  return 0.5f * z * (1.0f + std::erf(z * kInvSqrt2));
}

inline float gelu_slope(float z, bool approx) {
  if (approx) {
    const float t = std::tanh(kSqrt2OverPi * (z + kCubic * z * z * z));
    return 0.5f * (1.0f + t) + 0.5f * z * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kCubic * z * z);
  }
  return 0.5f * (1.0f + std::erf(z * kInvSqrt2)) + z * kInvSqrt2Pi * std::exp(-0.5f * z * z);
}

template <class T>
void forward_row_scalar(const T* x, const T* b, int64_t n, bool approx, T* y, int64_t from = 0) {
  for (int64_t j = from; j < n; ++j) store(y, j, gelu_value(load(x, j) + load(b, j), approx));
}

template <class T>
void backward_row_scalar(const T* dy, const T* x, const T* b, int64_t n, bool approx, T* dx, float* pb,
                         int64_t from = 0) {
  for (int64_t j = from; j < n; ++j) {
    const float dz = load(dy, j) * gelu_slope(load(x, j) + load(b, j), approx);
    store(dx, j, dz);
    pb[j] += dz;
  }
}

}  // namespace

#if TFFORGE_HAVE_AVX2_PATH
TFFORGE_AVX2_BEGIN
namespace avx2 {
namespace {

// tanh(u) = 1 - 2 / (exp(2u) + 1); exp8 saturates, so +-Inf give +-1 and NaN stays NaN.
inline __m256 tanh8(__m256 u) {
  const __m256 e = exp8(_mm256_add_ps(u, u));
  return _mm256_sub_ps(_mm256_set1_ps(1.0f),
                       _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
}

inline __m256 tanh_arg8(__m256 z) {
  const __m256 z2 = _mm256_mul_ps(z, z);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(kSqrt2OverPi), z),
                       _mm256_fmadd_ps(_mm256_set1_ps(kCubic), z2, _mm256_set1_ps(1.0f)));
}

inline __m256 gelu8(__m256 z, bool approx) {
  const __m256 half_z = _mm256_mul_ps(_mm256_set1_ps(0.5f), z);
  const __m256 s = approx ? tanh8(tanh_arg8(z)) : erf8(_mm256_mul_ps(z, _mm256_set1_ps(kInvSqrt2)));
  return _mm256_mul_ps(half_z, _mm256_add_ps(_mm256_set1_ps(1.0f), s));
}

inline __m256 gelu_slope8(__m256 z, bool approx) {
  const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
  if (approx) {
    const __m256 t = tanh8(tanh_arg8(z));
    const __m256 du = _mm256_mul_ps(_mm256_set1_ps(kSqrt2OverPi),
                                    _mm256_fmadd_ps(_mm256_set1_ps(3.0f * kCubic), _mm256_mul_ps(z, z), one));
    const __m256 sech2 = _mm256_fnmadd_ps(t, t, one);
    return _mm256_fmadd_ps(half, _mm256_add_ps(one, t), _mm256_mul_ps(_mm256_mul_ps(half, z), _mm256_mul_ps(sech2, du)));
  }
  const __m256 cdf = _mm256_mul_ps(half, _mm256_add_ps(one, erf8(_mm256_mul_ps(z, _mm256_set1_ps(kInvSqrt2)))));
  const __m256 pdf = _mm256_mul_ps(_mm256_set1_ps(kInvSqrt2Pi), exp8(_mm256_mul_ps(_mm256_set1_ps(-0.5f), _mm256_mul_ps(z, z))));
  return _mm256_fmadd_ps(z, pdf, cdf);
}

template <class T>
void forward_row(const T* x, const T* b, int64_t n, bool approx, T* y) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) store8(y + j, gelu8(_mm256_add_ps(load8(x + j), load8(b + j)), approx));
  forward_row_scalar(x, b, n, approx, y, j);
}

template <class T>
void backward_row(const T* dy, const T* x, const T* b, int64_t n, bool approx, T* dx, float* pb) {
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 dz = _mm256_mul_ps(load8(dy + j), gelu_slope8(_mm256_add_ps(load8(x + j), load8(b + j)), approx));
    store8(dx + j, dz);
    _mm256_storeu_ps(pb + j, _mm256_add_ps(dz, _mm256_loadu_ps(pb + j)));
  }
  backward_row_scalar(dy, x, b, n, approx, dx, pb, j);
}

}  // namespace
}  // namespace avx2
TFFORGE_AVX2_END
#endif

namespace {

template <class T>
void forward(RowShape s, const T* x, const T* b, bool approx, T* y, const ParallelFor& parallel) {
  void (*row_fn)(const T*, const T*, int64_t, bool, T*) = [](const T* x, const T* b, int64_t n, bool a, T* y) {
    forward_row_scalar(x, b, n, a, y);
  };
#if TFFORGE_HAVE_AVX2_PATH
  if (has_avx2()) row_fn = &avx2::forward_row<T>;
#endif
  const int64_t n = s.cols;
  for_each_row(s.rows, 30 * n, parallel, [&](int64_t r) { row_fn(x + r * n, b, n, approx, y + r * n); });
}

template <class T>
void backward(RowShape s, const T* dy, const T* x, const T* b, bool approx, T* dx, T* db, const ParallelFor& parallel) {
  void (*row_fn)(const T*, const T*, const T*, int64_t, bool, T*, float*) =
      [](const T* dy, const T* x, const T* b, int64_t n, bool a, T* dx, float* pb) {
        backward_row_scalar(dy, x, b, n, a, dx, pb);
      };
#if TFFORGE_HAVE_AVX2_PATH
  if (has_avx2()) row_fn = &avx2::backward_row<T>;
#endif
  const int64_t n = s.cols;
  const std::vector<float> sums = for_each_row_summing_columns(
      s.rows, n, 40 * n, parallel,
      [&](int64_t r, float* partial) { row_fn(dy + r * n, x + r * n, b, n, approx, dx + r * n, partial); });
  for (int64_t j = 0; j < n; ++j) store(db, j, sums[j]);
}

}  // namespace
}  // namespace cpu

void bias_gelu_forward_cpu(DType dtype, RowShape shape, const void* x, const void* bias, bool approximate, void* y,
                           const ParallelFor& parallel) {
  cpu::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::forward<T>(shape, static_cast<const T*>(x), static_cast<const T*>(bias), approximate, static_cast<T*>(y),
                    parallel);
  });
}

void bias_gelu_backward_cpu(DType dtype, RowShape shape, const void* dy, const void* x, const void* bias,
                            bool approximate, void* dx, void* dbias, const ParallelFor& parallel) {
  cpu::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::backward<T>(shape, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(bias),
                     approximate, static_cast<T*>(dx), static_cast<T*>(dbias), parallel);
  });
}

}  // namespace tfforge::kernels
