"""Shared data and references for the ops tests; the checks themselves are tfforge.testing's."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
tfops = pytest.importorskip("tfforge.ops")
from tfforge import testing  # noqa: E402
from tfforge.ops import reference  # noqa: E402
from tfforge.testing import TOLERANCE  # noqa: E402,F401  (re-exported for the tests)
from tfforge.testing import max_error as max_err  # noqa: E402,F401

DTYPES = {"float32": tf.float32, "float16": tf.float16, "bfloat16": tf.bfloat16}


def rand(shape, seed=0, scale=1.0, offset=0.0):
    """A float32 numpy array (tests also do numpy math on it): tfforge.testing.random's values."""
    return np.array(testing.random(shape, "float32", seed, scale=scale, offset=offset))


def keras_layer_norm(x, gamma, beta, epsilon=1e-3):
    """What keras.layers.LayerNormalization(axis=-1) computes, via keras.ops on the TF backend."""
    return keras.ops.layer_normalization(x, gamma, beta, axis=-1, epsilon=epsilon)


def keras_rms_norm(x, gamma, epsilon=1e-6):
    return keras.ops.rms_normalization(x, gamma, axis=-1, epsilon=epsilon)


def param_inputs(nparams, x_scale=1.0):
    """make_inputs for tfforge.testing.check_values: x of the shape, then nparams vectors of its last axis."""
    def make(shape, dtype, seed):
        x = testing.random(shape, dtype, seed, scale=x_scale)
        return (x,) + tuple(testing.random(shape[-1:], dtype, seed + 1 + i) for i in range(nparams))
    return make
