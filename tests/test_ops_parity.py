"""Forward parity of the fused ops with TensorFlow's built-in compositions (float32 <= 1e-5 on
unit-scale data; float16/bfloat16 within their precision), over ranks, widths and dtypes."""

import numpy as np
import pytest

from _ops_cases import DTYPES, TOLERANCE, keras_layer_norm, keras_rms_norm, max_err, rand, reference, tf, tfops

SHAPES = [(7,), (4, 1), (3, 5, 8), (16, 1000), (2, 3, 4, 67), (64, 1024), (5, 4097)]


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_norm_float32_matches_keras_and_tf(shape):
    x, g, b = rand(shape, 1), rand(shape[-1:], 2), rand(shape[-1:], 3)
    y = tfops.layer_norm(x, g, b, epsilon=1e-3)
    assert y.shape == shape and y.dtype == tf.float32
    assert max_err(y, keras_layer_norm(x, g, b, 1e-3)) <= 1e-5
    assert max_err(y, reference.layer_norm(x, g, b, 1e-3)) <= 1e-5


@pytest.mark.parametrize("shape", SHAPES)
def test_rms_norm_float32_matches_keras(shape):
    x, g = rand(shape, 4), rand(shape[-1:], 5)
    y = tfops.rms_norm(x, g, epsilon=1e-6)
    assert max_err(y, keras_rms_norm(x, g, 1e-6)) <= 1e-5


@pytest.mark.parametrize("approximate", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_bias_gelu_float32_matches_tf(shape, approximate):
    x, b = rand(shape, 6, scale=2.0), rand(shape[-1:], 7)
    y = tfops.bias_gelu(x, b, approximate=approximate)
    assert max_err(y, tf.nn.gelu(x + b, approximate=approximate)) <= 1e-5


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("shape", [(32, 1024), (3, 5, 33)])
def test_half_precision_within_rounding(dtype, shape):
    dt = DTYPES[dtype]
    x, g, b = [tf.cast(v, dt) for v in (rand(shape, 8), rand(shape[-1:], 9), rand(shape[-1:], 10))]
    tol = TOLERANCE[dtype] * 4  # outputs up to |y| ~ 16 here: a few half-precision ulps
    y = tfops.layer_norm(x, g, b)
    assert y.dtype == dt
    assert max_err(y, reference.layer_norm(x, g, b)) <= tol
    assert max_err(tfops.rms_norm(x, g), reference.rms_norm(x, g)) <= tol
    for approximate in (False, True):
        ref = tf.nn.gelu(tf.cast(x, tf.float32) + tf.cast(b, tf.float32), approximate=approximate)
        assert max_err(tfops.bias_gelu(x, b, approximate=approximate), ref) <= tol


def test_stats_outputs_are_mean_and_inverse_std():
    x, g, b = rand((6, 50), 11, scale=3.0, offset=2.0), rand((50,), 12), rand((50,), 13)
    _, mean, inv_std = tfops.load_library().tfforge_layer_norm(x, g, b, epsilon=1e-3)
    np.testing.assert_allclose(mean, x.mean(-1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(inv_std, 1 / np.sqrt(x.var(-1) + 1e-3), rtol=1e-5)


def test_large_offset_variance_is_stable():
    # Mean 1000, std 1: a one-pass sum(x^2) - sum(x)^2 variance would lose most digits here.
    x, g, b = rand((8, 512), 14, offset=1000.0), np.ones(512, np.float32), np.zeros(512, np.float32)
    y = np.asarray(tfops.layer_norm(x, g, b, epsilon=0.0))
    expected = (x - x.astype(np.float64).mean(-1, keepdims=True)) / x.astype(np.float64).std(-1, keepdims=True)
    assert np.max(np.abs(y - expected)) < 2e-3


def test_nan_and_inf_propagate_like_the_composition():
    x = rand((4, 16), 15)
    x[1, 3] = np.nan
    x[2, 5] = np.inf
    g, b = rand((16,), 16), rand((16,), 17)
    for ours, ref in [(tfops.layer_norm(x, g, b), reference.layer_norm(x, g, b)),
                      (tfops.rms_norm(x, g), reference.rms_norm(x, g)),
                      (tfops.bias_gelu(x, b), tf.nn.gelu(x + b)),
                      (tfops.bias_gelu(x, b, approximate=True), tf.nn.gelu(x + b, approximate=True))]:
        ours, ref = np.asarray(ours), np.asarray(ref)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        np.testing.assert_array_equal(np.isinf(ours), np.isinf(ref))
        finite = np.isfinite(ref)
        assert np.max(np.abs(ours[finite] - ref[finite])) <= 1e-5
