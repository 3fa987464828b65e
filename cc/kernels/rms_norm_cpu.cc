// RMSNorm on the CPU: per row, the sum of squares, then the scaled output; rows on the caller's pool.
#include <cmath>

#include "kernels/cpu_avx2.h"
#include "kernels/cpu_rows.h"
#include "kernels/cpu_types.h"
#include "kernels/rms_norm.h"

namespace tfforge::kernels {
namespace cpu {
namespace {

template <class T>
float inv_rms_scalar(const T* x, int64_t n, float eps) {
  float s = 0.0f;
  for (int64_t j = 0; j < n; ++j) s += load(x, j) * load(x, j);
  return 1.0f / std::sqrt(s / float(n) + eps);
}

template <class T>
void forward_row_scalar(const T* x, const T* g, int64_t n, float eps, T* y) {
  const float r = inv_rms_scalar(x, n, eps);
  for (int64_t j = 0; j < n; ++j) store(y, j, load(x, j) * r * load(g, j));
}

template <class T>
void backward_row_scalar(const T* dy, const T* x, const T* g, int64_t n, float eps, T* dx, float* pg) {
  const float r = inv_rms_scalar(x, n, eps);
  float c = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const float xh = load(x, j) * r, d = load(dy, j);
    c += d * load(g, j) * xh;
    pg[j] += d * xh;
  }
  c /= float(n);
  for (int64_t j = 0; j < n; ++j) {
    const float xh = load(x, j) * r;
    store(dx, j, r * (load(dy, j) * load(g, j) - xh * c));
  }
}

}  // namespace

#if TFFORGE_HAVE_AVX2_PATH
TFFORGE_AVX2_BEGIN
namespace avx2 {
namespace {

template <class T>
float inv_rms(const T* x, int64_t n, float eps) {
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m256 v0 = load8(x + j), v1 = load8(x + j + 8);
    a0 = _mm256_fmadd_ps(v0, v0, a0);
    a1 = _mm256_fmadd_ps(v1, v1, a1);
  }
  if (j + 8 <= n) {
    const __m256 v0 = load8(x + j);
    a0 = _mm256_fmadd_ps(v0, v0, a0);
    j += 8;
  }
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; j < n; ++j) s += load(x, j) * load(x, j);
  return 1.0f / std::sqrt(s / float(n) + eps);
}

template <class T, bool kStream>
void forward_row(const T* x, const T* g, int64_t n, float eps, T* y) {
  const float r = inv_rms(x, n, eps);
  const __m256 vr = _mm256_set1_ps(r);
  prefetch_row(x + n, n);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 out = _mm256_mul_ps(_mm256_mul_ps(load8(x + j), vr), load8(g + j));
    if (kStream) stream8(y + j, out); else store8(y + j, out);
  }
  for (; j < n; ++j) store(y, j, load(x, j) * r * load(g, j));
}

template <class T>
void backward_row(const T* dy, const T* x, const T* g, int64_t n, float eps, T* dx, float* pg) {
  const float r = inv_rms(x, n, eps);
  const __m256 vr = _mm256_set1_ps(r);
  __m256 vc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 xh = _mm256_mul_ps(load8(x + j), vr), d = load8(dy + j);
    vc = _mm256_fmadd_ps(_mm256_mul_ps(d, load8(g + j)), xh, vc);
    _mm256_storeu_ps(pg + j, _mm256_fmadd_ps(d, xh, _mm256_loadu_ps(pg + j)));
  }
  float c = hsum(vc);
  for (; j < n; ++j) {
    const float xh = load(x, j) * r, d = load(dy, j);
    c += d * load(g, j) * xh;
    pg[j] += d * xh;
  }
  c /= float(n);
  prefetch_row(x + n, n);
  prefetch_row(dy + n, n);
  const __m256 vmc = _mm256_set1_ps(c);
  for (j = 0; j + 8 <= n; j += 8) {
    const __m256 xh = _mm256_mul_ps(load8(x + j), vr);
    const __m256 gd = _mm256_mul_ps(load8(dy + j), load8(g + j));
    store8(dx + j, _mm256_mul_ps(vr, _mm256_fnmadd_ps(xh, vmc, gd)));
  }
  for (; j < n; ++j) {
    const float xh = load(x, j) * r;
    store(dx, j, r * (load(dy, j) * load(g, j) - xh * c));
  }
}

}  // namespace
}  // namespace avx2
TFFORGE_AVX2_END
#endif

namespace {

template <class T>
void forward(RowShape s, const T* x, const T* g, float eps, T* y, const ParallelFor& parallel) {
  auto row_fn = &forward_row_scalar<T>;
  bool stream = false;
#if TFFORGE_HAVE_AVX2_PATH
  if (has_avx2()) {
    stream = avx2::use_streaming_stores(y, s.rows, s.cols);
    row_fn = stream ? &avx2::forward_row<T, true> : &avx2::forward_row<T, false>;
  }
#endif
  const int64_t n = s.cols;
  parallel(s.rows, 3 * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) row_fn(x + r * n, g, n, eps, y + r * n);
#if TFFORGE_HAVE_AVX2_PATH
    if (stream) _mm_sfence();
#endif
  });
}

template <class T>
void backward(RowShape s, const T* dy, const T* x, const T* g, float eps, T* dx, T* dg, const ParallelFor& parallel) {
  auto row_fn = &backward_row_scalar<T>;
#if TFFORGE_HAVE_AVX2_PATH
  if (has_avx2()) row_fn = &avx2::backward_row<T>;
#endif
  const int64_t n = s.cols;
  const std::vector<float> sums = for_each_row_summing_columns(
      s.rows, n, 8 * n, parallel,
      [&](int64_t r, float* partial) { row_fn(dy + r * n, x + r * n, g, n, eps, dx + r * n, partial); });
  for (int64_t j = 0; j < n; ++j) store(dg, j, sums[j]);
}

}  // namespace
}  // namespace cpu

void rms_norm_forward_cpu(DType dtype, RowShape shape, const void* x, const void* gamma, float epsilon, void* y,
                          const ParallelFor& parallel) {
  cpu::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::forward<T>(shape, static_cast<const T*>(x), static_cast<const T*>(gamma), epsilon, static_cast<T*>(y),
                    parallel);
  });
}

void rms_norm_backward_cpu(DType dtype, RowShape shape, const void* dy, const void* x, const void* gamma,
                           float epsilon, void* dx, void* dgamma, const ParallelFor& parallel) {
  cpu::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::backward<T>(shape, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(gamma),
                     epsilon, static_cast<T*>(dx), static_cast<T*>(dgamma), parallel);
  });
}

}  // namespace tfforge::kernels
