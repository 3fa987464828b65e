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


def attention(query, key, value, mask=None, mask_fill=-1e9):
    """Keras MultiHeadAttention's core over [batch, length, heads, head_dim] (query already scaled):
    scores, masked softmax (masked scores set to ``mask_fill``, masked probabilities to 0), context.
    ``mask``: bool, rank 4, broadcastable to [batch, heads, query length, key length]."""
    query, key, value = (tf.convert_to_tensor(t) for t in (query, key, value))
    scores = tf.einsum("btnh,bsnh->bnts", query, key)
    if mask is None:
        probs = tf.nn.softmax(scores, axis=-1)
    else:
        mask = tf.convert_to_tensor(mask, dtype=tf.bool)
        fill = tf.constant(mask_fill, dtype=scores.dtype)
        probs = tf.nn.softmax(tf.where(mask, scores, fill), axis=-1)
        probs = tf.where(mask, probs, tf.zeros([], dtype=probs.dtype))
    return tf.einsum("bnts,bsnh->btnh", probs, value)
