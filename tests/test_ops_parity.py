"""Forward parity of the fused ops with TensorFlow's built-in compositions (float32 <= 1e-5 on
unit-scale data; float16/bfloat16 within their precision), over ranks, widths and dtypes."""

import numpy as np
import pytest

from _ops_cases import (DTYPES, TOLERANCE, keras_layer_norm, keras_rms_norm, max_err, param_inputs, rand, reference,
                        testing, tf, tfops)

SHAPES = [(7,), (4, 1), (3, 5, 8), (16, 1000), (2, 3, 4, 67), (64, 1024), (5, 4097)]


# Unit-scale outputs: float32 within 1e-5 absolute (relative=False), half precision a few ulps of |y| <= ~16.
def test_layer_norm_float32_matches_keras_and_tf():
    op = lambda x, g, b: tfops.layer_norm(x, g, b, epsilon=1e-3)  # noqa: E731
    testing.check_values(op, lambda x, g, b: keras_layer_norm(x, g, b, 1e-3), SHAPES, make_inputs=param_inputs(2),
                         tol=1e-5, relative=False)
    testing.check_values(op, lambda x, g, b: reference.layer_norm(x, g, b, 1e-3), SHAPES,
                         make_inputs=param_inputs(2), tol=1e-5, relative=False)


def test_rms_norm_float32_matches_keras():
    testing.check_values(lambda x, g: tfops.rms_norm(x, g, epsilon=1e-6), lambda x, g: keras_rms_norm(x, g, 1e-6),
                         SHAPES, make_inputs=param_inputs(1), tol=1e-5, relative=False)


@pytest.mark.parametrize("approximate", [False, True])
def test_bias_gelu_float32_matches_tf(approximate):
    testing.check_values(lambda x, b: tfops.bias_gelu(x, b, approximate=approximate),
                         lambda x, b: tf.nn.gelu(x + b, approximate=approximate), SHAPES,
                         make_inputs=param_inputs(1, x_scale=2.0), tol=1e-5, relative=False)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_within_rounding(dtype):
    shapes, make, tol = [(32, 1024), (3, 5, 33)], param_inputs(2), {dtype: TOLERANCE[dtype] * 4}
    rows = testing.check_values(tfops.layer_norm, reference.layer_norm, shapes, [dtype], make, tol=tol, relative=False)
    assert {r["dtype"] for r in rows} == {dtype}
    testing.check_values(lambda x, g, b: tfops.rms_norm(x, g), lambda x, g, b: reference.rms_norm(x, g), shapes,
                         [dtype], make, tol=tol, relative=False)
    for approximate in (False, True):
        testing.check_values(lambda x, g, b: tfops.bias_gelu(x, b, approximate=approximate),
                             lambda x, g, b: tf.nn.gelu(x + b, approximate=approximate), shapes, [dtype], make,
                             tol=tol, relative=False)
    y = tfops.layer_norm(*make((4, 8), dtype, 0))
    assert y.dtype == DTYPES[dtype]


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


hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@hypothesis.settings(max_examples=25, deadline=None)
@hypothesis.given(dims=st.lists(st.integers(1, 40), min_size=1, max_size=3), cols=st.integers(1, 300),
                  seed=st.integers(0, 2**16), scale=st.sampled_from([0.01, 1.0, 30.0]))
def test_random_shapes_match_reference(dims, cols, seed, scale):
    shape = tuple(dims[:-1]) + (cols,)
    x = rand(shape, seed, scale=scale, offset=scale)
    g, b = rand((cols,), seed + 1), rand((cols,), seed + 2)
    # Outputs are unit-scale whatever the input scale (normalized), except bias_gelu's.
    assert max_err(tfops.layer_norm(x, g, b), reference.layer_norm(x, g, b)) <= 2e-5
    assert max_err(tfops.rms_norm(x, g), reference.rms_norm(x, g)) <= 2e-5
    ref = np.asarray(tf.nn.gelu(x + b))
    assert max_err(tfops.bias_gelu(x, b), ref) <= 1e-5 * max(1.0, float(np.max(np.abs(ref))))
