"""tfforge.testing's checks fail when they should: each one is run here against an op that is wrong in
exactly the way it looks for (the passing side is what tests/test_ops_*.py and generated projects run)."""

import pytest

from _ops_cases import rand, reference, tf, tfops
from tfforge import testing


def test_check_values_catches_a_wrong_result_and_scales_by_dtype():
    x = lambda shape, dtype, seed: (testing.random(shape, dtype, seed),)  # noqa: E731
    rows = testing.check_values(tf.nn.relu, lambda t: tf.maximum(t, 0.0), [(3, 4)], ["float32", "bfloat16"], x)
    assert [r["dtype"] for r in rows] == ["float32", "bfloat16"] and all(r["error"] == 0 for r in rows)
    with pytest.raises(AssertionError, match=r"shape \(3, 4\) float32 output 0: max abs error"):
        testing.check_values(lambda t: t + 1e-3, tf.identity, [(3, 4)], ["float32"], x)
    # 1e-3 is within bfloat16's rounding, not float32's.
    testing.check_values(lambda t: t + tf.cast(1e-3, t.dtype), tf.identity, [(3, 4)], ["bfloat16"], x)
    with pytest.raises(AssertionError, match="shape"):
        testing.check_values(lambda t: t[:1], tf.identity, [(3, 4)], ["float32"], x)
    assert testing.tolerance("float16", scale=10.0) == pytest.approx(4e-2)


def test_max_error_requires_nan_in_the_same_places():
    with pytest.raises(AssertionError, match="NaN/Inf"):
        testing.max_error([1.0, float("nan")], [1.0, 2.0])
    assert testing.max_error([1.0, float("inf")], [1.5, float("inf")]) == 0.5


def test_check_gradients_catches_a_wrong_gradient():
    @tf.custom_gradient
    def wrong(x):
        return tf.square(x), lambda dy: dy * x  # should be 2 * x

    x = [rand((3, 4), 1)]
    testing.check_gradients(tf.square, x)
    with pytest.raises(AssertionError, match="gradient of input 0"):
        testing.check_gradients(wrong, x)
    with pytest.raises(AssertionError, match="against the reference"):
        testing.check_gradients_match(wrong, tf.square, x)


def test_check_shape_function_catches_a_wrong_static_shape():
    def lies(x):  # its static shape says [None, 4]; it returns [rows, 2]
        y = tf.numpy_function(lambda a: a[:, :2], [x], tf.float32)
        if not tf.executing_eagerly():
            y.set_shape(x.shape)
        return y

    spec = [tf.TensorSpec([None, 4])]
    with pytest.raises(AssertionError, match="the shape function says"):
        testing.check_shape_function(lies, spec, [rand((2, 4), 1)])
    with pytest.raises(AssertionError, match="differ from the expected"):
        testing.check_shape_function(tf.nn.relu, spec, [rand((2, 4), 1)], expected=[[2, 4]])


def test_check_bad_inputs_requires_the_error():
    op = lambda x, g: tfops.rms_norm(x, g)  # noqa: E731
    with pytest.raises(AssertionError, match="gave a result"):
        testing.check_bad_inputs(op, [((tf.ones([2, 4]), tf.ones([4])), "must be")])
    with pytest.raises(AssertionError, match="does not match"):
        testing.check_bad_inputs(op, [((tf.ones([2, 4]), tf.ones([5])), "some other message")])


def test_check_xla_catches_an_op_xla_cannot_compile():
    def host_op(x):
        return tf.numpy_function(lambda a: a * 2, [x], tf.float32)

    with pytest.raises(AssertionError, match="fails under jit_compile=True"):
        testing.check_xla(host_op, lambda x: x * 2, [rand((2, 3), 1)])


def test_check_saved_model_fails_when_the_fresh_process_cannot_find_the_op(tmp_path):
    with pytest.raises(AssertionError, match="fresh process .*failed"):
        testing.check_saved_model(lambda x: tfops.rms_norm(x, tf.ones([4])), [rand((2, 4), 1)], imports=[],
                                  directory=tmp_path)
    testing.check_saved_model(lambda x: reference.rms_norm(x, tf.ones([4])), [rand((2, 4), 1)], imports=[],
                              directory=tmp_path / "builtin")
