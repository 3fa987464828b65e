"""Python API of {{Name}}: the op's wrapper{{#grad}}, its gradient{{/grad}} and the built-in composition it replaces."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from tfforge.ops import in_xla_context, load_library

# Checks the TensorFlow version, C++ ABI and CUDA the library was built with, then loads it.
_lib = load_library(Path(__file__).resolve().with_name("_{{name}}_ops.so"))


def reference(x, bias):
    """{{Name}} from TensorFlow's built-in ops: what the op must compute."""
    return tf.nn.silu(x + bias)


def {{name}}(x, bias, name=None):
    """y = z * sigmoid(z) with z = x + bias over the last axis of ``x`` (float32, float16 or bfloat16).

    Inside a function XLA compiles (``jit_compile=True``), which cannot compile a custom op, it runs
    :func:`reference` instead."""
    x = tf.convert_to_tensor(x)
    bias = tf.convert_to_tensor(bias, dtype=x.dtype)
    if in_xla_context():
        return reference(x, bias)
    return _lib.{{name}}(x, bias, name=name)
{{#grad}}


@tf.RegisterGradient("{{Name}}")
def _{{name}}_grad(op, dy):
    """dy/dz = s * (1 + z * (1 - s)) with s = sigmoid(z); the bias gradient sums over all but the last axis."""
    x, bias = op.inputs
    z = tf.cast(x, tf.float32) + tf.cast(bias, tf.float32)
    s = tf.sigmoid(z)
    dz = tf.cast(dy, tf.float32) * s * (1.0 + z * (1.0 - s))
    dbias = tf.reduce_sum(tf.reshape(dz, [-1, tf.shape(dz)[-1]]), axis=0)
    return tf.cast(dz, x.dtype), tf.cast(dbias, bias.dtype)
{{/grad}}
