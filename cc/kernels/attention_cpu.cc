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

// out_r[0:H] = sum_j p_r[j] * v[j * row + 0:H] for two probability rows (p1 may equal p0): eight
// independent accumulators keep both FMA ports busy, each value vector loaded once serves both rows.
void context_rows(const float* p0, const float* p1, const float* v, int64_t S, int64_t H, int64_t row, float* out0,
                  float* out1) {
  int64_t h0 = 0;
  for (; h0 + 32 <= H; h0 += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (int64_t j = 0; j < S; ++j) {
      const __m256 u = _mm256_set1_ps(p0[j]), w = _mm256_set1_ps(p1[j]);
      const float* vj = v + j * row + h0;
      const __m256 v0 = _mm256_loadu_ps(vj), v1 = _mm256_loadu_ps(vj + 8), v2 = _mm256_loadu_ps(vj + 16),
                   v3 = _mm256_loadu_ps(vj + 24);
      a0 = _mm256_fmadd_ps(u, v0, a0);
      a1 = _mm256_fmadd_ps(u, v1, a1);
      a2 = _mm256_fmadd_ps(u, v2, a2);
      a3 = _mm256_fmadd_ps(u, v3, a3);
      b0 = _mm256_fmadd_ps(w, v0, b0);
      b1 = _mm256_fmadd_ps(w, v1, b1);
      b2 = _mm256_fmadd_ps(w, v2, b2);
      b3 = _mm256_fmadd_ps(w, v3, b3);
    }
    _mm256_storeu_ps(out0 + h0, a0);
    _mm256_storeu_ps(out0 + h0 + 8, a1);
    _mm256_storeu_ps(out0 + h0 + 16, a2);
    _mm256_storeu_ps(out0 + h0 + 24, a3);
    if (out1 != nullptr) {
      _mm256_storeu_ps(out1 + h0, b0);
      _mm256_storeu_ps(out1 + h0 + 8, b1);
      _mm256_storeu_ps(out1 + h0 + 16, b2);
      _mm256_storeu_ps(out1 + h0 + 24, b3);
    }
  }
  for (; h0 + 8 <= H; h0 += 8) {
    __m256 a = _mm256_setzero_ps(), b = a;
    for (int64_t j = 0; j < S; ++j) {
      const __m256 vj = _mm256_loadu_ps(v + j * row + h0);
      a = _mm256_fmadd_ps(_mm256_set1_ps(p0[j]), vj, a);
      b = _mm256_fmadd_ps(_mm256_set1_ps(p1[j]), vj, b);
    }
    _mm256_storeu_ps(out0 + h0, a);
    if (out1 != nullptr) _mm256_storeu_ps(out1 + h0, b);
  }
  for (; h0 < H; ++h0) {
    float a = 0.f, b = 0.f;
    for (int64_t j = 0; j < S; ++j) {
      a += p0[j] * v[j * row + h0];
      b += p1[j] * v[j * row + h0];
    }
    out0[h0] = a;
    if (out1 != nullptr) out1[h0] = b;
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
  const __m256 sc = _mm256_set1_ps(k.scale);
  // scores of two query rows at a time: every packed key vector loaded once serves both
  for (int64_t t = 0; t < s.q_len; t += 2) {
    const bool two = t + 1 < s.q_len;
    const float* q0 = q + t * k.row;
    const float* q1 = two ? q0 + k.row : q0;
    int64_t j = 0;
    for (; j + 32 <= P; j += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
      for (int64_t h = 0; h < H; ++h) {
        const float* kr = kt + h * P + j;
        const __m256 k0 = _mm256_loadu_ps(kr), k1 = _mm256_loadu_ps(kr + 8), k2 = _mm256_loadu_ps(kr + 16),
                     k3 = _mm256_loadu_ps(kr + 24);
        const __m256 u = _mm256_set1_ps(q0[h]), w = _mm256_set1_ps(q1[h]);
        a0 = _mm256_fmadd_ps(u, k0, a0);
        a1 = _mm256_fmadd_ps(u, k1, a1);
        a2 = _mm256_fmadd_ps(u, k2, a2);
        a3 = _mm256_fmadd_ps(u, k3, a3);
        b0 = _mm256_fmadd_ps(w, k0, b0);
        b1 = _mm256_fmadd_ps(w, k1, b1);
        b2 = _mm256_fmadd_ps(w, k2, b2);
        b3 = _mm256_fmadd_ps(w, k3, b3);
      }
      _mm256_storeu_ps(x0 + j, _mm256_mul_ps(a0, sc));
      _mm256_storeu_ps(x0 + j + 8, _mm256_mul_ps(a1, sc));
      _mm256_storeu_ps(x0 + j + 16, _mm256_mul_ps(a2, sc));
      _mm256_storeu_ps(x0 + j + 24, _mm256_mul_ps(a3, sc));
      _mm256_storeu_ps(x1 + j, _mm256_mul_ps(b0, sc));
      _mm256_storeu_ps(x1 + j + 8, _mm256_mul_ps(b1, sc));
      _mm256_storeu_ps(x1 + j + 16, _mm256_mul_ps(b2, sc));
      _mm256_storeu_ps(x1 + j + 24, _mm256_mul_ps(b3, sc));
    }
    for (; j < P; j += 8) {
      __m256 a = _mm256_setzero_ps(), b = a;
      for (int64_t h = 0; h < H; ++h) {
        const __m256 kv = _mm256_loadu_ps(kt + h * P + j);
        a = _mm256_fmadd_ps(_mm256_set1_ps(q0[h]), kv, a);
        b = _mm256_fmadd_ps(_mm256_set1_ps(q1[h]), kv, b);
      }
      _mm256_storeu_ps(x0 + j, _mm256_mul_ps(a, sc));
      _mm256_storeu_ps(x1 + j, _mm256_mul_ps(b, sc));
    }
    for (int r = 0; r < (two ? 2 : 1); ++r)
      softmax_row(k, m ? m + (t + r) * k.mask->stride[2] : nullptr, k.mask->stride[3], r ? x1 : x0);
    context_rows(x0, two ? x1 : x0, v, S, H, k.row, o + t * k.row, two ? o + (t + 1) * k.row : nullptr);
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
