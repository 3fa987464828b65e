"""The built-in TensorFlow compositions tfforge's fused ops replace: the parity reference in tests, the
anchor in benchmarks, and the fallback where a custom op cannot run (inside XLA-compiled functions).

Norms compute in float32 for float16/bfloat16 inputs, as Keras does, and cast back."""

from __future__ import annotations

from tfforge import _tf

tf = _tf.tf()


def _as_float32(x):
    return tf.cast(x, tf.float32) if x.dtype != tf.float32 else x


def layer_norm(x, gamma, beta, epsilon=1e-3):
    x = tf.convert_to_tensor(x)
    x32 = _as_float32(x)
    mean, variance = tf.nn.moments(x32, axes=[-1], keepdims=True)
    y = (x32 - mean) * tf.math.rsqrt(variance + epsilon) * _as_float32(tf.convert_to_tensor(gamma)) \
        + _as_float32(tf.convert_to_tensor(beta))
    return tf.cast(y, x.dtype)


def rms_norm(x, gamma, epsilon=1e-6):
    x = tf.convert_to_tensor(x)
    x32 = _as_float32(x)
    inv_rms = tf.math.rsqrt(tf.reduce_mean(tf.square(x32), axis=-1, keepdims=True) + epsilon)
    return tf.cast(x32 * inv_rms * _as_float32(tf.convert_to_tensor(gamma)), x.dtype)


def bias_gelu(x, bias, approximate=False):
    return tf.nn.gelu(x + bias, approximate=approximate)


def attention(query, key, value, mask=None, mask_fill=-1e9, zero_masked=True, scale=1.0):
    """Keras MultiHeadAttention's core over [batch, length, heads, head_dim]: scores ``scale * q k^T``,
    masked softmax (masked scores set to ``mask_fill``; with ``zero_masked`` masked probabilities set to
    0 after it), context. ``mask``: bool, broadcastable to [batch, heads, query length, key length]."""
    query, key, value = (tf.convert_to_tensor(t) for t in (query, key, value))
    scores = tf.einsum("btnh,bsnh->bnts", query, key)
    if scale != 1.0:
        scores = scores * tf.constant(scale, dtype=scores.dtype)
    if mask is None:
        return tf.einsum("bnts,bsnh->btnh", tf.nn.softmax(scores, axis=-1), value)
    mask = tf.convert_to_tensor(mask, dtype=tf.bool)
    probs = tf.nn.softmax(tf.where(mask, scores, tf.constant(mask_fill, dtype=scores.dtype)), axis=-1)
    if zero_masked:
        probs = tf.where(mask, probs, tf.zeros([], dtype=probs.dtype))
    return tf.einsum("bnts,bsnh->btnh", probs, value)
