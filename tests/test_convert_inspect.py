"""tfforge inspect for checkpoints, .tflite and Keras files, checked against TensorFlow's own readers."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from test_convert_models import keras_mlp_path, tf1_checkpoint

tf = pytest.importorskip("tensorflow")

from tfforge.convert import convert  # noqa: E402
from tfforge.convert.inspectors import inspect_checkpoint, inspect_keras, inspect_tflite, render_checkpoint, \
    render_keras, render_tflite  # noqa: E402


def test_checkpoint_variables_and_one_tensor():
    d, _, _ = tf1_checkpoint()
    report = inspect_checkpoint(d, tensor="w")
    expected = dict(tf.train.list_variables(d))
    got = {v["name"]: v for v in report["variables"]}
    assert {k: v["shape"] for k, v in got.items()} == expected
    assert got["w"]["bytes"] == 4 * 3 * 4 and got["w"]["dtype"] == "float32"
    reader = tf.train.load_checkpoint(d)
    assert report["tensor"]["shape"] == [4, 3]
    assert np.array2string(reader.get_tensor("w"), threshold=200, edgeitems=4) == report["tensor"]["value"]
    text = render_checkpoint(report)
    assert "global_step" in text and "4x3" in text


def test_tflite_report(tmp_path):
    path, _ = keras_mlp_path("keras")
    calib = tmp_path / "c.npz"
    np.savez(calib, features=np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32))
    dst = tmp_path / "q.tflite"
    convert(path, str(dst), quantize="int8", representative=str(calib), verify=False)
    report = inspect_tflite(str(dst))
    interp = tf.lite.Interpreter(model_path=str(dst))
    (inp,) = interp.get_input_details()
    (rep_in,) = report["subgraphs"][0]["inputs"]
    assert rep_in["dtype"] == "int8" and rep_in["shape"] == [int(s) for s in inp["shape_signature"]]
    assert rep_in["quantization"]["scale"][0] == pytest.approx(inp["quantization"][0])
    assert rep_in["quantization"]["zero_point"][0] == inp["quantization"][1]
    assert "FULLY_CONNECTED" in report["ops"] and report["quantized_tensors"] > 0
    assert report["signatures"][0]["key"] == "serving_default"
    assert "FULLY_CONNECTED" in render_tflite(report)


def test_tflite_rejects_garbage(tmp_path):
    from tfforge.errors import ConversionError
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\0" * 64)
    with pytest.raises(ConversionError, match="TFL3"):
        inspect_tflite(str(bad))


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_keras_report(fmt):
    import keras
    path, _ = keras_mlp_path(fmt)
    report = inspect_keras(path)
    model = keras.models.load_model(path, compile=False)
    assert sum(w["bytes"] for w in report["weights"]) == sum(int(np.prod(v.shape)) * 4 for v in model.weights)
    assert {layer["name"] for layer in report["layers"]} >= {"hidden", "bn", "probs"}
    assert "Dense" in render_keras(report)


def test_cli_inspect_dispatch(capsys):
    pytest.importorskip("tfforge.graph.inspect")
    from tfforge.cli.main import main
    d, _, _ = tf1_checkpoint()
    assert main(["inspect", d, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["kind"] == "checkpoint" and any(v["name"] == "w" for v in report["variables"])
    assert main(["inspect", os.path.join(d, "model.ckpt-1"), "--tensor", "b"]) == 0
    assert "b (float32, shape [3])" in capsys.readouterr().out
    path, _ = keras_mlp_path("keras")
    assert main(["inspect", path]) == 0
    assert "Keras .keras model" in capsys.readouterr().out
