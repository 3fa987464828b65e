"""Tests of {{name}} with tfforge.testing: values against the reference over shapes and dtypes,
{{#grad}}gradients, {{/grad}}the shape function, a SavedModel in a fresh process, XLA and bad inputs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from {{name}} import reference  # noqa: E402
from {{name}} import {{name}} as op  # noqa: E402
{{#keras}}
from {{name}} import {{Name}} as Layer  # noqa: E402
{{/keras}}
from tfforge import testing  # noqa: E402

SHAPES = [(7,), (4, 1), (3, 5, 8), (64, 1000), (0, 4)]
DTYPES = ["float32", "float16", "bfloat16"]


def inputs(shape, dtype="float32", seed=0):
    return testing.random(shape, dtype, seed, scale=2.0), testing.random(shape[-1:], dtype, seed + 1)


def test_values_match_the_reference():
    testing.check_values(op, reference, SHAPES, DTYPES, make_inputs=inputs)
{{#grad}}


def test_gradients_match_numeric_differences():
    testing.check_gradients(op, inputs((3, 9)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_match_the_reference(dtype):
    # The bias gradient sums over rows: its float32 rounding grows with their count.
    testing.check_gradients_match(op, reference, inputs((16, 40), dtype),
                                  tol=None if dtype != "float32" else [1e-5, 1e-4])
{{/grad}}


def test_shape_function_with_unknown_dims_and_rank():
    testing.check_shape_function(op, [tf.TensorSpec([None, 5, None]), tf.TensorSpec([8])], inputs((2, 5, 8)),
                                 expected=[[None, 5, 8]])
    testing.check_shape_function(op, [tf.TensorSpec(None), tf.TensorSpec([None])], inputs((3, 4)), expected=[None])


def test_shape_function_rejects_a_bias_of_the_wrong_length():
    with pytest.raises(ValueError, match="Dimensions must be equal"):
        tf.function(op).get_concrete_function(tf.TensorSpec([None, 8]), tf.TensorSpec([5]))


def test_saved_model_loads_in_a_fresh_process(tmp_path):
    testing.check_saved_model(op, inputs((4, 16)), imports=["{{name}}"], directory=tmp_path)


def test_xla_runs_the_reference_instead():
    testing.check_xla(op, reference, inputs((4, 16)), custom_op_prefix="{{Name}}")


def test_bad_inputs_give_clear_errors():
    testing.check_bad_inputs(op, [
        ((tf.ones([2, 3]), tf.ones([4])), "bias must be a vector of length 3"),
        ((tf.constant(1.0), tf.ones([1])), "rank >= 1"),
    ])
{{#keras}}


def test_keras_model_trains_and_saves(tmp_path):
    import keras
    import numpy as np

    inputs_ = keras.Input((12,))
    model = keras.Model(inputs_, keras.layers.Dense(1)(Layer()(keras.layers.Dense(8)(inputs_))))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.default_rng(0).standard_normal((32, 12)).astype("float32"), np.zeros((32, 1), "float32")
    model.fit(x, y, epochs=1, verbose=0)
    testing.check_saved_model(model, [x[:4]], imports=["{{name}}"], directory=tmp_path,
                              tol=1e-6)
    model.save(str(tmp_path / "model.keras"))
    again = keras.models.load_model(str(tmp_path / "model.keras"))
    np.testing.assert_allclose(again(x[:4]), model(x[:4]), atol=1e-6)
{{/keras}}
