"""Models using tfforge's custom ops: decompose_tfforge_ops rewrites them into built-in ops, and TFLite
export does so by default, so the .tflite runs on a stock interpreter."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
ops = pytest.importorskip("tfforge.ops")

from tfforge.convert import convert, decompose_tfforge_ops, freeze  # noqa: E402
from tfforge.convert.frozen import read_graph_def  # noqa: E402

X = np.random.default_rng(2).standard_normal((3, 8)).astype(np.float32)


@pytest.fixture(scope="module")
def keras_with_tfforge_layers(tmp_path_factory):
    keras = pytest.importorskip("keras")
    tfk = pytest.importorskip("tfforge.keras")
    keras.utils.set_random_seed(6)
    inp = keras.Input((8,), name="x")
    h = tfk.DenseGELU(16, name="ff")(inp)
    h = tfk.LayerNormalization(name="ln")(h)
    h = tfk.RMSNormalization(name="rms")(h)
    out = keras.layers.Dense(4, name="out")(h)
    model = keras.Model(inp, out)
    path = tmp_path_factory.mktemp("tfforge_layers") / "m.keras"
    model.save(path)
    return str(path), model.predict(X, verbose=0)


def _run(graph_def, output):
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=g) as s:
        return s.run(output + ":0", {"x:0": X})


def test_freeze_keeps_custom_ops_and_decompose_removes_them(keras_with_tfforge_layers, tmp_path):
    path, ref = keras_with_tfforge_layers
    freeze(path, tmp_path / "m.pb")
    graph_def = read_graph_def(tmp_path / "m.pb")
    used = {n.op for n in graph_def.node}
    assert {"TfforgeLayerNorm", "TfforgeRMSNorm", "TfforgeBiasGelu"} <= used
    np.testing.assert_allclose(_run(graph_def, "out"), ref, rtol=1e-4, atol=1e-5)
    plain = decompose_tfforge_ops(graph_def)
    assert not any(n.op.startswith("Tfforge") for n in plain.node)
    np.testing.assert_allclose(_run(plain, "out"), ref, rtol=1e-4, atol=1e-5)


def test_tflite_of_tfforge_model_runs_on_stock_interpreter(keras_with_tfforge_layers, tmp_path):
    path, ref = keras_with_tfforge_layers
    dst = tmp_path / "m.tflite"
    result = convert(path, str(dst))
    assert result.parity.max_abs < 1e-4
    interp = tf.lite.Interpreter(model_path=str(dst))
    runner = interp.get_signature_runner()
    (y,) = runner(x=X).values()
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-5)
