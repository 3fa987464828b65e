// Attention core on the CPU: one (batch, head) block at a time, parallel over blocks. The block's
// keys are packed transposed ([head_dim, kv_len], padded to 8) once, so each query row's scores are
// broadcast-FMAs over contiguous memory; the softmax row stays in cache and the context row is
// accumulated in registers from the value rows read in place.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/attention.h"
#include "kernels/cpu_avx2.h"
#include "kernels/cpu_types.h"

namespace tfforge::kernels {
namespace cpu {
namespace {

struct Block {
  const AttentionShape* s;
  const AttentionMask* mask;
  float fill;
  bool zero_masked;
  float scale;
  int64_t row;  // elements between consecutive positions of one head: heads * head_dim
  int64_t padded;  // kv_len rounded up to 8
};

// x[s] = masked scores, then the masked softmax in place; e is scratch of `padded` floats.
void masked_softmax_row(const Block& k, const bool* m, int64_t ms, float* x) {
  const int64_t S = k.s->kv_len;
  if (m != nullptr)
    for (int64_t s = 0; s < S; ++s)
      if (!m[s * ms]) x[s] = k.fill;
  float mx = -std::numeric_limits<float>::infinity();
  for (int64_t s = 0; s < S; ++s) mx = std::max(mx, x[s]);
  float sum = 0.f;
  for (int64_t s = 0; s < S; ++s) {
    x[s] = std::exp(x[s] - mx);
    sum += x[s];
  }
  const float inv = 1.f / sum;
  for (int64_t s = 0; s < S; ++s) x[s] = (m == nullptr || m[s * ms] || !k.zero_masked) ? x[s] * inv : 0.f;
}

void block_scalar(const Block& k, const float* q, const float* kk, const float* v, const bool* m, float* o,
                  std::vector<float>& scratch) {
  const AttentionShape& s = *k.s;
  scratch.resize(size_t(s.kv_len));
  float* x = scratch.data();
  for (int64_t t = 0; t < s.q_len; ++t) {
    const float* qt = q + t * k.row;
    for (int64_t j = 0; j < s.kv_len; ++j) {
      const float* kj = kk + j * k.row;
      float acc = 0.f;
      for (int64_t h = 0; h < s.head_dim; ++h) acc += qt[h] * kj[h];
      x[j] = acc * k.scale;
    }
    masked_softmax_row(k, m ? m + t * k.mask->stride[2] : nullptr, k.mask->stride[3], x);
    float* ot = o + t * k.row;
    std::fill(ot, ot + s.head_dim, 0.f);
    for (int64_t j = 0; j < s.kv_len; ++j) {
      const float* vj = v + j * k.row;
      for (int64_t h = 0; h < s.head_dim; ++h) ot[h] += x[j] * vj[h];
    }
  }
}

}  // namespace

#if TFFORGE_HAVE_AVX2_PATH
TFFORGE_AVX2_BEGIN
namespace avx2 {
namespace {

// Lanes where 8 contiguous mask bytes are true.
inline __m256 mask8(const bool* m) {
  const __m256i w = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(m)));
  return _mm256_castsi256_ps(_mm256_cmpgt_epi32(w, _mm256_setzero_si256()));
}

void softmax_row(const Block& k, const bool* m, int64_t ms, float* x) {
  const int64_t S = k.s->kv_len;
  int64_t s = 0;
  if (m != nullptr && ms == 1) {
    const __m256 fill = _mm256_set1_ps(k.fill);
    for (; s + 8 <= S; s += 8) _mm256_storeu_ps(x + s, _mm256_blendv_ps(fill, _mm256_loadu_ps(x + s), mask8(m + s)));
  }
  if (m != nullptr)
    for (; s < S; ++s)
      if (!m[s * ms]) x[s] = k.fill;
  s = 0;
  __m256 vmx = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (; s + 8 <= S; s += 8) vmx = _mm256_max_ps(vmx, _mm256_loadu_ps(x + s));
  __m128 h = _mm_max_ps(_mm256_castps256_ps128(vmx), _mm256_extractf128_ps(vmx, 1));
  h = _mm_max_ps(h, _mm_movehl_ps(h, h));
  h = _mm_max_ss(h, _mm_movehdup_ps(h));
  float mx = _mm_cvtss_f32(h);
  for (; s < S; ++s) mx = std::max(mx, x[s]);
  const __m256 vm = _mm256_set1_ps(mx);
  __m256 vsum = _mm256_setzero_ps();
  s = 0;
  for (; s + 8 <= S; s += 8) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + s), vm));
    _mm256_storeu_ps(x + s, e);
    vsum = _mm256_add_ps(vsum, e);
  }
  float sum = hsum(vsum);
  for (; s < S; ++s) {
    x[s] = std::exp(x[s] - mx);
    sum += x[s];
  }
  const float inv = 1.f / sum;
  const __m256 vinv = _mm256_set1_ps(inv);
  s = 0;
  for (; s + 8 <= S; s += 8) _mm256_storeu_ps(x + s, _mm256_mul_ps(_mm256_loadu_ps(x + s), vinv));
  for (; s < S; ++s) x[s] *= inv;
  if (m == nullptr || !k.zero_masked) return;
  s = 0;
  if (ms == 1)
    for (; s + 8 <= S; s += 8) _mm256_storeu_ps(x + s, _mm256_and_ps(_mm256_loadu_ps(x + s), mask8(m + s)));
  for (; s < S; ++s)
    if (!m[s * ms]) x[s] = 0.f;
}

// out_r[c] = scale * sum_i a_r[i] * b[i * ldb + c] for c in [0, width), for two rows a_0, a_1 (a_1 may
// equal a_0; out1 may be null): both the scores (a = query rows, b = the packed keys) and the context
// (a = probability rows, b = the value rows in place). Eight independent accumulators keep both FMA
// ports busy, and each b vector loaded once serves both rows.
void two_rows(const float* a0, const float* a1, const float* b, int64_t n, int64_t ldb, int64_t width, float scale,
              float* out0, float* out1) {
  const __m256 sc = _mm256_set1_ps(scale);
  int64_t c = 0;
  for (; c + 32 <= width; c += 32) {
    __m256 x0 = _mm256_setzero_ps(), x1 = x0, x2 = x0, x3 = x0, y0 = x0, y1 = x0, y2 = x0, y3 = x0;
    for (int64_t i = 0; i < n; ++i) {
      const __m256 u = _mm256_set1_ps(a0[i]), w = _mm256_set1_ps(a1[i]);
      const float* bi = b + i * ldb + c;
      const __m256 b0 = _mm256_loadu_ps(bi), b1 = _mm256_loadu_ps(bi + 8), b2 = _mm256_loadu_ps(bi + 16),
                   b3 = _mm256_loadu_ps(bi + 24);
      x0 = _mm256_fmadd_ps(u, b0, x0);
      x1 = _mm256_fmadd_ps(u, b1, x1);
      x2 = _mm256_fmadd_ps(u, b2, x2);
      x3 = _mm256_fmadd_ps(u, b3, x3);
      y0 = _mm256_fmadd_ps(w, b0, y0);
      y1 = _mm256_fmadd_ps(w, b1, y1);
      y2 = _mm256_fmadd_ps(w, b2, y2);
      y3 = _mm256_fmadd_ps(w, b3, y3);
    }
    _mm256_storeu_ps(out0 + c, _mm256_mul_ps(x0, sc));
    _mm256_storeu_ps(out0 + c + 8, _mm256_mul_ps(x1, sc));
    _mm256_storeu_ps(out0 + c + 16, _mm256_mul_ps(x2, sc));
    _mm256_storeu_ps(out0 + c + 24, _mm256_mul_ps(x3, sc));
    if (out1 != nullptr) {
      _mm256_storeu_ps(out1 + c, _mm256_mul_ps(y0, sc));
      _mm256_storeu_ps(out1 + c + 8, _mm256_mul_ps(y1, sc));
      _mm256_storeu_ps(out1 + c + 16, _mm256_mul_ps(y2, sc));
      _mm256_storeu_ps(out1 + c + 24, _mm256_mul_ps(y3, sc));
    }
  }
  for (; c + 8 <= width; c += 8) {
    __m256 x = _mm256_setzero_ps(), y = x;
    for (int64_t i = 0; i < n; ++i) {
      const __m256 bi = _mm256_loadu_ps(b + i * ldb + c);
      x = _mm256_fmadd_ps(_mm256_set1_ps(a0[i]), bi, x);
      y = _mm256_fmadd_ps(_mm256_set1_ps(a1[i]), bi, y);
    }
    _mm256_storeu_ps(out0 + c, _mm256_mul_ps(x, sc));
    if (out1 != nullptr) _mm256_storeu_ps(out1 + c, _mm256_mul_ps(y, sc));
  }
  for (; c < width; ++c) {
    float x = 0.f, y = 0.f;
    for (int64_t i = 0; i < n; ++i) {
      x += a0[i] * b[i * ldb + c];
      y += a1[i] * b[i * ldb + c];
    }
    out0[c] = x * scale;
    if (out1 != nullptr) out1[c] = y * scale;
  }
}

void block(const Block& k, const float* q, const float* kk, const float* v, const bool* m, float* o,
           std::vector<float>& scratch) {
  const AttentionShape& s = *k.s;
  const int64_t S = s.kv_len, H = s.head_dim, P = k.padded;
  scratch.resize(size_t(H * P + 2 * P));
  float* kt = scratch.data();  // [H, P]: the block's keys transposed, zero padded
  float* x0 = kt + H * P;
  float* x1 = x0 + P;
  for (int64_t j = 0; j < S; ++j)
    for (int64_t h = 0; h < H; ++h) kt[h * P + j] = kk[j * k.row + h];
  for (int64_t h = 0; h < H; ++h) std::fill(kt + h * P + S, kt + (h + 1) * P, 0.f);
  // two query rows at a time (the second repeats the first when q_len is odd): scores, softmax, context
  for (int64_t t = 0; t < s.q_len; t += 2) {
    const bool two = t + 1 < s.q_len;
    const float* q0 = q + t * k.row;
    const float* q1 = two ? q0 + k.row : q0;
    two_rows(q0, q1, kt, H, P, P, k.scale, x0, x1);
    for (int r = 0; r < (two ? 2 : 1); ++r)
      softmax_row(k, m ? m + (t + r) * k.mask->stride[2] : nullptr, k.mask->stride[3], r ? x1 : x0);
    two_rows(x0, two ? x1 : x0, v, S, k.row, H, 1.f, o + t * k.row, two ? o + (t + 1) * k.row : nullptr);
  }
}

}  // namespace
}  // namespace avx2
TFFORGE_AVX2_END
#endif

}  // namespace cpu

void attention_forward_cpu(const AttentionShape& s, const float* query, const float* key, const float* value,
                           const AttentionMask& mask, float mask_fill, bool zero_masked, float scale, float* out,
                           const ParallelFor& parallel) {
  if (s.batch * s.heads * s.q_len * s.head_dim == 0) return;
  if (s.kv_len == 0) {  // nothing to attend to: the products over an empty axis are zeros
    std::fill(out, out + s.batch * s.q_len * s.heads * s.head_dim, 0.f);
    return;
  }
  cpu::Block k{&s, &mask, mask_fill, zero_masked, scale, s.heads * s.head_dim, (s.kv_len + 7) / 8 * 8};
  void (*fn)(const cpu::Block&, const float*, const float*, const float*, const bool*, float*,
             std::vector<float>&) = &cpu::block_scalar;
#if TFFORGE_HAVE_AVX2_PATH
  if (cpu::has_avx2()) fn = &cpu::avx2::block;
#endif
  const int64_t cost = s.q_len * s.kv_len * (2 * s.head_dim + 20);
  parallel(s.batch * s.heads, cost, [&](int64_t begin, int64_t end) {
    std::vector<float> scratch;
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / s.heads, n = i % s.heads;
      const int64_t qoff = b * s.q_len * k.row + n * s.head_dim;
      const int64_t kvoff = b * s.kv_len * k.row + n * s.head_dim;
      const bool* m = mask.data ? mask.data + b * mask.stride[0] + n * mask.stride[1] : nullptr;
      fn(k, query + qoff, key + kvoff, value + kvoff, m, out + qoff, scratch);
    }
  });
}

}  // namespace tfforge::kernels
