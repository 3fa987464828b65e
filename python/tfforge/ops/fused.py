"""Python API of the fused ops (LayerNorm, RMSNorm, bias + GELU) and their gradients.

Each wrapper runs the tfforge op; inside an XLA-compiled function (``jit_compile=True``), where XLA
cannot compile a custom op, it falls back to the built-in composition (tfforge.ops.reference) with a
one-time warning instead of failing with an XLA error.
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow as tf

from tfforge.ops import reference
from tfforge.ops._loader import load_library

_lib = load_library()
_warned_xla: set[str] = set()


def in_xla_context() -> bool:
    """True while tracing a function that XLA will compile (tf.function(jit_compile=True), Keras
    jit_compile=True)."""
    from tfforge._compat.tf import in_xla_context as check
    return check()


def _xla_fallback(op: str) -> bool:
    if not in_xla_context():
        return False
    if op not in _warned_xla:
        _warned_xla.add(op)
        warnings.warn(
            f"tfforge.ops.{op}: XLA (jit_compile=True) cannot compile tfforge's custom op, so this call uses "
            "TensorFlow's built-in composition instead; compile without jit_compile to use the fused kernel.",
            RuntimeWarning, stacklevel=3)
    return True


def _inputs(x, *params):
    x = tf.convert_to_tensor(x)
    return (x,) + tuple(tf.convert_to_tensor(p, dtype=x.dtype) for p in params)


def layer_norm(x, gamma, beta, epsilon: float = 1e-3, name=None):
    """LayerNorm over the last axis of ``x`` (any rank >= 1; float32, float16 or bfloat16):
    ``(x - mean) * rsqrt(var + epsilon) * gamma + beta`` with float32 statistics."""
    x, gamma, beta = _inputs(x, gamma, beta)
    if _xla_fallback("layer_norm"):
        return reference.layer_norm(x, gamma, beta, epsilon)
    return _lib.tfforge_layer_norm(x, gamma, beta, epsilon=epsilon, name=name)[0]


def rms_norm(x, gamma, epsilon: float = 1e-6, name=None):
    """RMSNorm over the last axis of ``x``: ``x * rsqrt(mean(x^2) + epsilon) * gamma``."""
    x, gamma = _inputs(x, gamma)
    if _xla_fallback("rms_norm"):
        return reference.rms_norm(x, gamma, epsilon)
    return _lib.tfforge_rms_norm(x, gamma, epsilon=epsilon, name=name)


def bias_gelu(x, bias, approximate: bool = False, name=None):
    """``gelu(x + bias)`` with ``bias`` over the last axis; ``approximate=True`` is the tanh form."""
    x, bias = _inputs(x, bias)
    if _xla_fallback("bias_gelu"):
        return reference.bias_gelu(x, bias, approximate)
    return _lib.tfforge_bias_gelu(x, bias, approximate=approximate, name=name)


def attention(query, key, value, mask=None, mask_fill: float = -1e9, zero_masked: bool = True, scale: float = 1.0,
              name=None):
    """The attention core of Keras' MultiHeadAttention over [batch, length, heads, head_dim] float32
    inputs: ``softmax(scale * query key^T) value`` per batch entry and head, output [batch, query length,
    heads, head_dim]. ``mask`` (bool, rank <= 4, broadcast right-aligned, each axis 1 or the size of
    [batch, heads, query length, key length]): masked scores become ``mask_fill`` before the softmax and,
    with ``zero_masked`` (Keras' Softmax layer), masked probabilities 0 after it (a fully masked row
    gives zeros)."""
    query, key, value = _inputs(query, key, value)
    masks = [] if mask is None else [tf.convert_to_tensor(mask, dtype=tf.bool)]
    if _xla_fallback("attention"):
        return reference.attention(query, key, value, mask, mask_fill, zero_masked, scale)
    return _lib.tfforge_attention(query, key, value, masks, mask_fill=mask_fill, zero_masked=zero_masked,
                                  scale=scale, name=name)


def _is_zero(grad) -> bool:
    """An output gradient that is absent or a known all-zero tensor (what tapes pass for unused outputs)."""
    if grad is None:
        return True
    if not tf.executing_eagerly() and hasattr(grad, "op"):
        # Graph-mode tapes build zeros for unused outputs as ZerosLike, or Fill of a run-time shape.
        if grad.op.type == "ZerosLike":
            return True
        if grad.op.type == "Fill":
            fill = tf.get_static_value(grad.op.inputs[1])
            return fill is not None and not np.any(fill)
    value = tf.get_static_value(grad)
    return value is not None and not np.any(value)


@tf.RegisterGradient("TfforgeLayerNorm")
def _layer_norm_grad(op, dy, dmean, dinv_std):
    x, gamma, _ = op.inputs
    mean, inv_std = op.outputs[1], op.outputs[2]
    if dy is None:
        dy = tf.zeros_like(x)
    dx, dgamma, dbeta = _lib.tfforge_layer_norm_grad(dy, x, gamma, mean, inv_std)
    # The statistics are outputs too; when something used them, add their (rarely needed) share.
    if not (_is_zero(dmean) and _is_zero(dinv_std)):
        n = tf.cast(tf.shape(x)[-1], tf.float32)
        x32 = tf.cast(x, tf.float32)
        dmean = tf.zeros_like(mean) if dmean is None else dmean
        dinv_std = tf.zeros_like(inv_std) if dinv_std is None else dinv_std
        centered = x32 - mean[..., None]
        extra = (dmean[..., None] - dinv_std[..., None] * inv_std[..., None] ** 3 * centered) / n
        dx = dx + tf.cast(extra, dx.dtype)
    return dx, dgamma, dbeta


@tf.RegisterGradient("TfforgeRMSNorm")
def _rms_norm_grad(op, dy):
    x, gamma = op.inputs
    return _lib.tfforge_rms_norm_grad(dy, x, gamma, epsilon=op.get_attr("epsilon"))


@tf.RegisterGradient("TfforgeBiasGelu")
def _bias_gelu_grad(op, dy):
    x, bias = op.inputs
    return _lib.tfforge_bias_gelu_grad(dy, x, bias, approximate=op.get_attr("approximate"))


@tf.RegisterGradient("TfforgeAttention")
def _attention_grad(op, dy):
    # TensorFlow ops recomputing the scores and softmax: the gradient of the reference composition.
    query, key, value = op.inputs[:3]
    mask = op.inputs[3] if len(op.inputs) > 3 else None
    with tf.GradientTape() as tape:
        tape.watch([query, key, value])
        y = reference.attention(query, key, value, mask, op.get_attr("mask_fill"), op.get_attr("zero_masked"),
                                op.get_attr("scale"))
    return tape.gradient(y, [query, key, value], output_gradients=dy) + [None] * (len(op.inputs) - 3)
