"""Shared data and references for the ops tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
tfops = pytest.importorskip("tfforge.ops")
from tfforge.ops import reference  # noqa: E402

DTYPES = {"float32": tf.float32, "float16": tf.float16, "bfloat16": tf.bfloat16}
# Max abs error against the float32 reference for unit-scale data: the output's rounding at |y| <= ~4.
TOLERANCE = {"float32": 1e-5, "float16": 4e-3, "bfloat16": 3.2e-2}


def rand(shape, seed=0, scale=1.0, offset=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + offset).astype(np.float32)


def keras_layer_norm(x, gamma, beta, epsilon=1e-3):
    """What keras.layers.LayerNormalization(axis=-1) computes, via keras.ops on the TF backend."""
    return keras.ops.layer_normalization(x, gamma, beta, axis=-1, epsilon=epsilon)


def keras_rms_norm(x, gamma, epsilon=1e-6):
    return keras.ops.rms_normalization(x, gamma, axis=-1, epsilon=epsilon)


def max_err(a, b):
    return float(np.max(np.abs(np.asarray(tf.cast(a, tf.float32)) - np.asarray(tf.cast(b, tf.float32))), initial=0.0))
