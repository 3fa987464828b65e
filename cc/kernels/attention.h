// Attention core over the [batch, length, heads, head_dim] layout Keras' MultiHeadAttention keeps its
// projections in: for every (batch b, head n)
//   scores[t, s] = scale * sum_h query[b, t, n, h] * key[b, s, n, h]
//   x[t, s]      = mask[b, n, t, s] ? scores[t, s] : mask_fill        (no mask: scores)
//   p[t, :]      = softmax(x[t, :]);  p[t, s] = 0 where the mask is false, when zero_masked
//   out[b, t, n, h] = sum_s p[t, s] * value[b, s, n, h]
// which is Keras' masked softmax exactly: with zero_masked (keras-hub, Keras' Softmax layer) a fully
// masked row gives zeros; without (Keras 3 MultiHeadAttention's own masking) the mean of the values. The mask is a bool tensor
// broadcast to [batch, heads, T, S] (every axis 1 or the full size); it is read through strides, so an
// expanded [batch, 1, T, S] mask costs nothing. float32 only; no transposed copies of the inputs.
#pragma once

#include "kernels/kernels.h"

namespace tfforge::kernels {

struct AttentionShape {
  int64_t batch = 0, q_len = 0, kv_len = 0, heads = 0, head_dim = 0;
};

// Element strides of the mask over (batch, head, query position, key position); 0 on a broadcast axis.
struct AttentionMask {
  const bool* data = nullptr;  // nullptr: no mask
  int64_t stride[4] = {0, 0, 0, 0};
};

void attention_forward_cpu(const AttentionShape& shape, const float* query, const float* key, const float* value,
                           const AttentionMask& mask, float mask_fill, bool zero_masked, float scale, float* out,
                           const ParallelFor& parallel = serial_for);

}  // namespace tfforge::kernels
