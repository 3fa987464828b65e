"""tfforge.keras layers: drop-in weights and outputs vs the Keras layers, training, .keras round trip."""

import numpy as np
import pytest

from _ops_cases import keras, max_err, rand, tf
import tfforge.keras as tk


def _copy_weights(src, dst):
    assert [w.path.split("/")[-1] for w in src.weights] == [w.path.split("/")[-1] for w in dst.weights]
    dst.set_weights(src.get_weights())


@pytest.mark.parametrize("kwargs", [{}, {"epsilon": 1e-5}, {"center": False}, {"scale": False}])
def test_layer_norm_is_drop_in_for_keras(kwargs):
    x = rand((4, 6, 32), 1)
    ours, theirs = tk.LayerNormalization(**kwargs), keras.layers.LayerNormalization(**kwargs)
    ours.build(x.shape), theirs.build(x.shape)
    assert [(w.name, tuple(w.shape)) for w in ours.weights] == [(w.name, tuple(w.shape)) for w in theirs.weights]
    theirs.set_weights([rand(tuple(w.shape), 7 + i) for i, w in enumerate(theirs.weights)])
    _copy_weights(theirs, ours)
    assert max_err(ours(x), theirs(x)) <= 1e-5
    _copy_weights(ours, theirs)  # and back
    assert max_err(ours(x), theirs(x)) <= 1e-5


def test_layer_norm_other_axes_fall_back_to_keras():
    x = rand((3, 5, 8), 2)
    ours, theirs = tk.LayerNormalization(axis=1), keras.layers.LayerNormalization(axis=1)
    assert max_err(ours(x), theirs(x)) <= 1e-5


def test_rms_norm_matches_keras():
    x = rand((4, 24), 3)
    ours, theirs = tk.RMSNormalization(), keras.layers.RMSNormalization()
    ours.build(x.shape), theirs.build(x.shape)
    theirs.set_weights([rand((24,), 4)])
    _copy_weights(theirs, ours)
    assert max_err(ours(x), theirs(x)) <= 1e-5


@pytest.mark.parametrize("approximate", [False, True])
def test_dense_gelu_matches_dense_with_gelu(approximate):
    x = rand((5, 3, 16), 5)
    ours = tk.DenseGELU(8, approximate=approximate)
    theirs = keras.layers.Dense(8, activation=lambda t: keras.activations.gelu(t, approximate=approximate))
    ours.build(x.shape), theirs.build(x.shape)
    theirs.set_weights([rand((16, 8), 6), rand((8,), 7)])
    _copy_weights(theirs, ours)
    assert max_err(ours(x), theirs(x)) <= 1e-5


def _model():
    inputs = keras.Input((10,))
    h = tk.DenseGELU(16)(inputs)
    h = tk.LayerNormalization()(h)
    h = tk.RMSNormalization()(h)
    return keras.Model(inputs, keras.layers.Dense(1)(h))


def test_model_trains_and_keras_file_round_trips(tmp_path):
    keras.utils.set_random_seed(0)
    model = _model()
    model.compile(optimizer="adam", loss="mse")
    x, y = rand((64, 10), 1), rand((64, 1), 2)
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer).__name__ for layer in loaded.layers[1:4]] == ["DenseGELU", "LayerNormalization", "RMSNormalization"]
    assert isinstance(loaded.layers[2], tk.LayerNormalization)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_mixed_precision_float16():
    x = rand((4, 32), 8)
    layer = tk.LayerNormalization(dtype="mixed_float16")
    ref = keras.layers.LayerNormalization(dtype="mixed_float16")
    layer.build(x.shape), ref.build(x.shape)
    y = layer(x)
    assert y.dtype == tf.float16
    assert max_err(y, ref(x)) <= 4e-3


def test_demo_step(tmp_path):
    from tfforge.demos import ops as demo

    text = demo.demo_step(str(tmp_path))
    assert "outputs identical" in text
    diff = float(text.split("max abs difference ")[1].split()[0])
    assert diff <= 1e-4
    assert (tmp_path / "fused_model.keras").exists()
