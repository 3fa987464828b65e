// LayerNorm on the CPU: one row at a time, two passes over the row for a numerically stable variance
// (mean first, then squared deviations); a row of typical width stays in L1 between passes, so the
// tensor is read from memory once. Rows run on the caller's thread pool; AVX2 paths when available.
#include <cmath>
#include <vector>

#include "kernels/cpu_avx2.h"
#include "kernels/cpu_rows.h"
#include "kernels/cpu_types.h"
#include "kernels/layer_norm.h"

namespace tfforge::kernels {
namespace cpu {
namespace {

template <class T>
void forward_row_scalar(const T* x, const T* g, const T* b, int64_t n, float eps, T* y, float* mean_out,
                        float* rstd_out) {
  float s = 0.0f;
  for (int64_t j = 0; j < n; ++j) s += load(x, j);
  const float mean = s / float(n);
  float v = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const float d = load(x, j) - mean;
    v += d * d;
  }
  const float rstd = 1.0f / std::sqrt(v / float(n) + eps);
  for (int64_t j = 0; j < n; ++j) store(y, j, (load(x, j) - mean) * rstd * load(g, j) + load(b, j));
  *mean_out = mean;
  *rstd_out = rstd;
}

template <class T>
void backward_row_scalar(const T* dy, const T* x, const T* g, float mean, float rstd, int64_t n, T* dx,
                         float* pg, float* pb) {
  float a = 0.0f, c = 0.0f;
  for (int64_t j = 0; j < n; ++j) {
    const float xh = (load(x, j) - mean) * rstd, d = load(dy, j), gd = d * load(g, j);
    a += gd;
    c += gd * xh;
    pg[j] += d * xh;
    pb[j] += d;
  }
  a /= float(n);
  c /= float(n);
  for (int64_t j = 0; j < n; ++j) {
    const float xh = (load(x, j) - mean) * rstd;
    store(dx, j, rstd * (load(dy, j) * load(g, j) - a - xh * c));
  }
}

}  // namespace

#if TFFORGE_HAVE_AVX2_PATH
TFFORGE_AVX2_BEGIN
namespace avx2 {
namespace {

// x is the row (float32, or T itself); next is where the next row of the input starts.
template <class S, class T, bool kStream>
void normalize_row(const S* x, const T* g, const T* b, int64_t n, float eps, T* y, float* mean_out,
                   float* rstd_out, const T* next) {
  const int64_t n8 = n & ~int64_t(7);
  __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    a0 = _mm256_add_ps(a0, load8(x + j));
    a1 = _mm256_add_ps(a1, load8(x + j + 8));
  }
  if (j < n8) a0 = _mm256_add_ps(a0, load8(x + j)), j += 8;
  float s = hsum(_mm256_add_ps(a0, a1));
  for (; j < n; ++j) s += load(x, j);
  const float mean = s / float(n);
  const __m256 vm = _mm256_set1_ps(mean);
  a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
  for (j = 0; j + 16 <= n; j += 16) {
    const __m256 d0 = _mm256_sub_ps(load8(x + j), vm), d1 = _mm256_sub_ps(load8(x + j + 8), vm);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
    a1 = _mm256_fmadd_ps(d1, d1, a1);
  }
  if (j < n8) {
    const __m256 d0 = _mm256_sub_ps(load8(x + j), vm);
    a0 = _mm256_fmadd_ps(d0, d0, a0);
    j += 8;
  }
  float v = hsum(_mm256_add_ps(a0, a1));
  for (; j < n; ++j) {
    const float d = load(x, j) - mean;
    v += d * d;
  }
  const float rstd = 1.0f / std::sqrt(v / float(n) + eps);
  const __m256 vr = _mm256_set1_ps(rstd);
  prefetch_row(next, n);  // rows are contiguous; a prefetch past the last row is harmless
  for (j = 0; j < n8; j += 8) {
    const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(load8(x + j), vm), vr);
    const __m256 out = _mm256_fmadd_ps(xh, load8(g + j), load8(b + j));
    if (kStream) stream8(y + j, out); else store8(y + j, out);
  }
  for (; j < n; ++j) store(y, j, (load(x, j) - mean) * rstd * load(g, j) + load(b, j));
  *mean_out = mean;
  *rstd_out = rstd;
}

// 16-bit rows are converted to float32 once, into a per-thread buffer, instead of once per pass.
template <class T, bool kStream>
void forward_row(const T* x, const T* g, const T* b, int64_t n, float eps, T* y, float* mean_out,
                 float* rstd_out) {
  constexpr int64_t kMaxScratch = 1 << 16;
  if constexpr (sizeof(T) == 2) {
    if (n <= kMaxScratch) {
      thread_local std::vector<float> scratch;
      if (int64_t(scratch.size()) < n) scratch.resize(size_t(n));
      float* buf = scratch.data();
      int64_t j = 0;
      for (; j + 8 <= n; j += 8) _mm256_storeu_ps(buf + j, load8(x + j));
      for (; j < n; ++j) buf[j] = load(x, j);
      normalize_row<float, T, kStream>(buf, g, b, n, eps, y, mean_out, rstd_out, x + n);
      return;
    }
  }
  normalize_row<T, T, kStream>(x, g, b, n, eps, y, mean_out, rstd_out, x + n);
}

template <class T>
void backward_row(const T* dy, const T* x, const T* g, float mean, float rstd, int64_t n, T* dx, float* pg,
                  float* pb) {
  const int64_t n8 = n & ~int64_t(7);
  const __m256 vm = _mm256_set1_ps(mean), vr = _mm256_set1_ps(rstd);
  __m256 va = _mm256_setzero_ps(), vc = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j < n8; j += 8) {
    const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(load8(x + j), vm), vr);
    const __m256 d = load8(dy + j), gd = _mm256_mul_ps(d, load8(g + j));
    va = _mm256_add_ps(va, gd);
    vc = _mm256_fmadd_ps(gd, xh, vc);
    _mm256_storeu_ps(pg + j, _mm256_fmadd_ps(d, xh, _mm256_loadu_ps(pg + j)));
    _mm256_storeu_ps(pb + j, _mm256_add_ps(d, _mm256_loadu_ps(pb + j)));
  }
  float a = hsum(va), c = hsum(vc);
  for (; j < n; ++j) {
    const float xh = (load(x, j) - mean) * rstd, d = load(dy, j), gd = d * load(g, j);
    a += gd;
    c += gd * xh;
    pg[j] += d * xh;
    pb[j] += d;
  }
  a /= float(n);
  c /= float(n);
  prefetch_row(x + n, n);
  prefetch_row(dy + n, n);
  const __m256 vmean_gd = _mm256_set1_ps(a), vmean_gdx = _mm256_set1_ps(c);
  for (j = 0; j < n8; j += 8) {
    const __m256 xh = _mm256_mul_ps(_mm256_sub_ps(load8(x + j), vm), vr);
    const __m256 gd = _mm256_mul_ps(load8(dy + j), load8(g + j));
    const __m256 t = _mm256_fnmadd_ps(xh, vmean_gdx, _mm256_sub_ps(gd, vmean_gd));
    store8(dx + j, _mm256_mul_ps(vr, t));
  }
  for (; j < n; ++j) {
    const float xh = (load(x, j) - mean) * rstd;
    store(dx, j, rstd * (load(dy, j) * load(g, j) - a - xh * c));
  }
}

}  // namespace
}  // namespace avx2
TFFORGE_AVX2_END
#endif

namespace {

template <class T>
void forward(RowShape s, const T* x, const T* g, const T* b, float eps, T* y, float* mean, float* rstd,
             const ParallelFor& parallel) {
  auto row_fn = &forward_row_scalar<T>;
  bool stream = false;
#if TFFORGE_HAVE_AVX2_PATH
  if (has_avx2()) {
    stream = avx2::use_streaming_stores(y, s.rows, s.cols);
    row_fn = stream ? &avx2::forward_row<T, true> : &avx2::forward_row<T, false>;
  }
#endif
  const int64_t n = s.cols;
  parallel(s.rows, 4 * n, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) row_fn(x + r * n, g, b, n, eps, y + r * n, mean + r, rstd + r);
#if TFFORGE_HAVE_AVX2_PATH
    if (stream) _mm_sfence();
#endif
  });
}

template <class T>
void backward(RowShape s, const T* dy, const T* x, const T* g, const float* mean, const float* rstd, T* dx,
              T* dg, T* db, const ParallelFor& parallel) {
  auto row_fn = &backward_row_scalar<T>;
#if TFFORGE_HAVE_AVX2_PATH
  if (has_avx2()) row_fn = &avx2::backward_row<T>;
#endif
  const int64_t n = s.cols;
  const std::vector<float> sums = for_each_row_summing_columns(
      s.rows, 2 * n, 8 * n, parallel, [&](int64_t r, float* partial) {
        row_fn(dy + r * n, x + r * n, g, mean[r], rstd[r], n, dx + r * n, partial, partial + n);
      });
  for (int64_t j = 0; j < n; ++j) {
    store(dg, j, sums[j]);
    store(db, j, sums[n + j]);
  }
}

}  // namespace
}  // namespace cpu

void layer_norm_forward_cpu(DType dtype, RowShape shape, const void* x, const void* gamma, const void* beta,
                            float epsilon, void* y, float* mean, float* inv_std, const ParallelFor& parallel) {
  cpu::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::forward<T>(shape, static_cast<const T*>(x), static_cast<const T*>(gamma), static_cast<const T*>(beta),
                    epsilon, static_cast<T*>(y), mean, inv_std, parallel);
  });
}

void layer_norm_backward_cpu(DType dtype, RowShape shape, const void* dy, const void* x, const void* gamma,
                             const float* mean, const float* inv_std, void* dx, void* dgamma, void* dbeta,
                             const ParallelFor& parallel) {
  cpu::dispatch(dtype, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    cpu::backward<T>(shape, static_cast<const T*>(dy), static_cast<const T*>(x), static_cast<const T*>(gamma),
                     mean, inv_std, static_cast<T*>(dx), static_cast<T*>(dgamma), static_cast<T*>(dbeta), parallel);
  });
}

}  // namespace tfforge::kernels
