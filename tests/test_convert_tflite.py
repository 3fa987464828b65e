"""TFLite export with each quantization mode, run in the TFLite interpreter against the source."""

from __future__ import annotations

import numpy as np
import pytest

from test_convert_models import X4, keras_mlp_path, mobilenet, savedmodel_two_signatures, tf1_checkpoint

tf = pytest.importorskip("tensorflow")

from tfforge.convert import convert, freeze  # noqa: E402
from tfforge.convert.runners import TFLiteRunner  # noqa: E402
from tfforge.errors import ConversionError  # noqa: E402


def _run_tflite_with_tf(path, x):
    """TensorFlow's own interpreter, independent of tfforge's runner."""
    interp = tf.lite.Interpreter(model_path=str(path))
    runner = interp.get_signature_runner()
    (name,) = runner.get_input_details()
    out = runner(**{name: x})
    return next(iter(out.values()))


def test_keras_float_and_size_reduction_modes(tmp_path):
    path, ref = keras_mlp_path("keras")
    sizes = {}
    for mode in ("none", "dynamic", "float16"):
        dst = tmp_path / f"mlp_{mode}.tflite"
        result = convert(path, str(dst), quantize=mode)
        sizes[mode] = result.bytes_out
        assert result.parity.max_abs < (1e-5 if mode == "none" else 5e-2)
    np.testing.assert_allclose(_run_tflite_with_tf(tmp_path / "mlp_none.tflite", X4), ref, rtol=1e-5, atol=1e-6)
    assert all(sizes.values())


def test_int8_full_integer_from_npz(tmp_path):
    path, ref = keras_mlp_path("keras")
    calib = tmp_path / "calib.npz"
    np.savez(calib, features=np.random.default_rng(0).standard_normal((64, 4)).astype(np.float32))
    dst = tmp_path / "mlp_int8.tflite"
    result = convert(path, str(dst), quantize="int8", representative=str(calib), data=None)
    runner = TFLiteRunner(dst)
    assert runner._in["features"]["dtype"] == np.int8  # full integer: int8 I/O
    assert result.parity.outputs[0].max_abs < 0.1  # softmax probabilities within 0.1 after int8


def test_int8_random_calibration_warns(tmp_path):
    path, _ = keras_mlp_path("keras")
    with pytest.warns(UserWarning, match="smoke test"):
        convert(path, str(tmp_path / "r.tflite"), quantize="int8", representative="random", verify=False)
    with pytest.raises(ConversionError, match="representative"):
        convert(path, str(tmp_path / "n.tflite"), quantize="int8", verify=False)


def test_savedmodel_frozen_and_checkpoint_to_tflite(tmp_path):
    sm, refs = savedmodel_two_signatures()
    result = convert(sm, str(tmp_path / "sm.tflite"))
    assert result.parity.max_abs < 1e-5
    freeze(sm, tmp_path / "sm.pb")
    result = convert(str(tmp_path / "sm.pb"), str(tmp_path / "pb.tflite"))
    assert result.parity.max_abs < 1e-5
    np.testing.assert_allclose(_run_tflite_with_tf(tmp_path / "pb.tflite", X4), refs["serving_default"]["scores"],
                               rtol=1e-5)
    d, ckpt_refs, _ = tf1_checkpoint()
    result = convert(d, str(tmp_path / "ckpt.tflite"), select_tf_ops=False)
    assert result.parity.max_abs < 1e-5


def test_mobilenet_v2_int8(tmp_path):
    path, x, ref = mobilenet()
    np.savez(tmp_path / "calib.npz", x)
    result = convert(path, str(tmp_path / "mnv2.pb"))
    assert result.parity.max_abs < 1e-4
    result = convert(path, str(tmp_path / "mnv2.tflite"), quantize="int8", representative=str(tmp_path / "calib.npz"),
                     data=str(tmp_path / "calib.npz"))
    assert result.bytes_out < result.bytes_in / 2.5
    assert np.isfinite(result.parity.max_abs)


def test_int8_calibrated_from_tfrecords(tmp_path):
    """A TFRecord dataset of Examples whose features are named like the model's inputs."""
    path, _ = keras_mlp_path("keras")
    rng = np.random.default_rng(3)
    rows = rng.standard_normal((40, 4)).astype(np.float32)
    prefix = str(tmp_path / "calib")
    try:
        from tfforge.records import write
    except ImportError:
        write = None
    if write is not None:
        write({"features": rows}, prefix, progress=False)
    else:
        with tf.io.TFRecordWriter(prefix + "-00000-of-00001.tfrecord") as w:
            for row in rows:
                feature = {"features": tf.train.Feature(float_list=tf.train.FloatList(value=row))}
                w.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    result = convert(path, str(tmp_path / "rec.tflite"), quantize="int8", representative=prefix)
    assert result.parity.outputs[0].max_abs < 0.1
