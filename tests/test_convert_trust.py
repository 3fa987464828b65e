"""Issue 10 (trust) for `tfforge convert / verify / freeze`: each case reproduces the reported input.
Bad input ends in one line on stderr and a non-zero exit, never a traceback; options that would be
ignored are refused; failed conversions leave nothing behind; the int8 parity runs on the
calibration data; TF1 graphs with a PlaceholderWithDefault convert and verify."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from tfforge.cli.main import main as cli_main  # noqa: E402
from tfforge.convert import convert, verify  # noqa: E402
from tfforge.errors import ConversionError  # noqa: E402

v1 = tf.compat.v1
RNG = np.random.default_rng(11)


def _one_line_error(capsys, argv, *needles):
    """Runs the CLI in-process: exit 1 (bad input, not an internal error), exactly one line on stderr
    naming `needles`."""
    code = cli_main([str(a) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    keras.utils.set_random_seed(5)
    inp = keras.Input((4,), name="x")
    model = keras.Model(inp, keras.layers.Dense(3, name="d")(inp))
    model.save(root / "m.keras")
    inp6 = keras.Input((6,), name="x")
    keras.Model(inp6, keras.layers.Dense(3)(inp6)).save(root / "six.keras")
    return root


def test_h5_keras_cannot_load(models, tmp_path, capsys):
    """A valid HDF5 file without a model config: Keras raises; tfforge says so in one line."""
    import h5py
    path = tmp_path / "weights_only.h5"
    with h5py.File(path, "w") as f:
        f["x"] = np.zeros(3)
    _one_line_error(capsys, ["freeze", path, tmp_path / "o.pb"], "weights_only.h5", "Keras cannot load")
    _one_line_error(capsys, ["verify", path, models / "m.keras"], "weights_only.h5")
    assert not (tmp_path / "o.pb").exists()


def test_keras_config_naming_a_blocked_function(models, tmp_path, capsys):
    """A .keras whose Dense activation names os.system: Keras raises TypeError; one line instead."""
    with zipfile.ZipFile(models / "m.keras") as z:
        members = {n: z.read(n) for n in z.namelist()}
    config = json.loads(members["config.json"])
    dense = next(layer for layer in config["config"]["layers"] if layer["class_name"] == "Dense")
    dense["config"]["activation"] = {"module": "os", "class_name": "function", "config": "system",
                                     "registered_name": "system"}
    members["config.json"] = json.dumps(config).encode()
    path = tmp_path / "blocked.keras"
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    _one_line_error(capsys, ["freeze", path, tmp_path / "o.pb"], "blocked.keras", "system")
    _one_line_error(capsys, ["convert", path, tmp_path / "o.tflite"], "blocked.keras", "system")
    assert not (tmp_path / "o.pb").exists() and not (tmp_path / "o.tflite").exists()


def test_representative_missing_npz(models, tmp_path, capsys):
    _one_line_error(capsys, ["convert", models / "m.keras", tmp_path / "o.tflite", "--quantize", "int8",
                             "--representative", tmp_path / "missing.npz"], "missing.npz", "no such file")
    assert not (tmp_path / "o.tflite").exists()


def test_representative_without_int8_is_refused(models, tmp_path, capsys):
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=RNG.standard_normal((8, 4)).astype(np.float32))
    for quantize in ([], ["--quantize", "dynamic"]):
        _one_line_error(capsys, ["convert", models / "m.keras", tmp_path / "o.tflite", *quantize,
                                 "--representative", calib], "--representative", "int8")
    assert not (tmp_path / "o.tflite").exists()


def test_verify_data_not_npz(models, tmp_path, capsys):
    text = tmp_path / "inputs.csv"
    text.write_text("1,2,3,4\n")
    _one_line_error(capsys, ["verify", models / "m.keras", models / "m.keras", "--data", text], "inputs.csv",
                    "not a .npz")
    npy = tmp_path / "inputs.npy"
    np.save(npy, np.zeros((2, 4), np.float32))
    _one_line_error(capsys, ["verify", models / "m.keras", models / "m.keras", "--data", npy], "inputs.npy",
                    "numpy.savez")


def test_verify_incompatible_models(models, capsys):
    """Input x is (?, 4) in one model and (?, 6) in the other."""
    _one_line_error(capsys, ["verify", models / "m.keras", models / "six.keras"], "'x'", "(?, 4)", "(?, 6)")


def test_verify_tolerance_names_the_output_and_the_excess(models, tmp_path, capsys):
    keras.utils.set_random_seed(9)
    inp = keras.Input((4,), name="x")
    other = tmp_path / "other.keras"
    keras.Model(inp, keras.layers.Dense(3, name="d")(inp)).save(other)
    code = cli_main(["verify", str(models / "m.keras"), str(other), "--tolerance", "1e-6", "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    (output,) = report["outputs"]
    assert code == 1
    line = captured.err.strip()
    assert f"output '{output['a']}'" in line and "exceeds --tolerance 1e-06 by" in line
    excess = float(line.rsplit("by ", 1)[1])
    assert excess == pytest.approx(output["max_abs"] - 1e-6, rel=1e-4)
    assert cli_main(["verify", str(models / "m.keras"), str(models / "m.keras"), "--tolerance", "1e-6"]) == 0


def test_unknown_output_extension(models, tmp_path, capsys):
    dst = tmp_path / "o.xyz"
    _one_line_error(capsys, ["convert", models / "m.keras", dst], "unknown output extension '.xyz'")
    assert not dst.exists()


def _tf1_graph(directory, *, with_input=True, with_default=False):
    """A TF1 graph saved by Saver with its .meta. with_input: x is a placeholder (else the graph
    reads only its variable, as freeze_graph_test's); with_default: y = cond(use_relu, relu(h), h)
    where use_relu = placeholder_with_default(False)."""
    os.makedirs(directory, exist_ok=True)
    with tf.Graph().as_default() as g:
        w = v1.get_variable("w", initializer=RNG.standard_normal((4, 3)).astype(np.float32), use_resource=False)
        if with_input:
            x = v1.placeholder(tf.float32, [None, 4], name="x")
            h = tf.matmul(x, w)
        else:
            h = w * 2.0
        if with_default:
            use_relu = v1.placeholder_with_default(False, [], name="use_relu")
            h = tf.cond(use_relu, lambda: tf.nn.relu(h), lambda: h)
        tf.identity(h, name="y")
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            return v1.train.Saver().save(sess, os.path.join(directory, "model.ckpt"))


def test_checkpoint_to_savedmodel_without_inputs(tmp_path, capsys):
    prefix = _tf1_graph(str(tmp_path / "ckpt"), with_input=False)
    dst = tmp_path / "sm"
    _one_line_error(capsys, ["convert", prefix, dst, "--outputs", "y"], "--inputs")
    assert not dst.exists()


def test_placeholder_with_default_converts_and_verifies(tmp_path):
    """The reported failure: "the models have different numbers of outputs: ['x', 'use_relu'] vs ['x']"."""
    prefix = _tf1_graph(str(tmp_path / "ckpt"), with_default=True)
    result = convert(prefix, tmp_path / "sm", outputs="y")
    assert result.parity.max_abs < 1e-5
    report = verify(prefix, str(tmp_path / "sm"))
    assert [o.a for o in report.outputs] == ["y"] and report.max_abs < 1e-5
    frozen = convert(prefix, tmp_path / "frozen.pb", outputs="y")
    assert frozen.parity.max_abs < 1e-5 and any("optional inputs" in n and "use_relu" in n for n in frozen.notes)


def test_failed_conversion_leaves_nothing_unless_asked(tmp_path, capsys):
    prefix = _tf1_graph(str(tmp_path / "ckpt"), with_default=True)
    empty = tmp_path / "empty.npz"
    np.savez(empty)
    dst = tmp_path / "sm"
    with pytest.raises(ConversionError, match="no array for input 'x'"):
        convert(prefix, dst, outputs="y", data=str(empty))
    assert not dst.exists()
    line = _one_line_error(capsys, ["convert", prefix, dst, "--outputs", "y", "--data", empty, "--keep-failed"],
                           "kept as asked")
    assert str(dst) in line and (dst / "saved_model.pb").exists()
    frozen = tmp_path / "frozen.pb"  # an older file the failed run replaced goes too: it is not that file any more
    frozen.write_bytes(b"old")
    with pytest.raises(ConversionError, match="no array for input 'x'"):
        convert(prefix, frozen, outputs="y", data=str(empty))
    assert not frozen.exists()


def test_int8_parity_runs_on_the_calibration_data(models, tmp_path):
    """Calibration data far from standard-normal: the printed parity must be the error on it, equal
    to `verify --data` with that file, not the error on standard-normal inputs."""
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=(6.0 + 3.0 * RNG.standard_normal((40, 4))).astype(np.float32))
    dst = tmp_path / "m_int8.tflite"
    result = convert(models / "m.keras", dst, quantize="int8", representative=str(calib))
    assert result.parity.samples == 40
    assert any("calibration samples" in n for n in result.notes)
    on_calibration = verify(str(models / "m.keras"), str(dst), data=str(calib))
    on_random = verify(str(models / "m.keras"), str(dst))
    assert result.parity.max_abs == pytest.approx(on_calibration.max_abs)
    assert result.parity.max_abs != pytest.approx(on_random.max_abs)


@pytest.fixture(scope="module")
def tfforge_layers_model(tmp_path_factory):
    tfk = pytest.importorskip("tfforge.keras")
    keras.utils.set_random_seed(6)
    inp = keras.Input((8,), name="x")
    out = keras.layers.Dense(4, name="out")(tfk.LayerNormalization(name="ln")(inp))
    path = tmp_path_factory.mktemp("tfforge_ops") / "ln.keras"
    keras.Model(inp, out).save(path)
    return path


def test_keep_tfforge_ops_without_custom_ops_is_refused(tfforge_layers_model, tmp_path, capsys):
    dst = tmp_path / "ln.tflite"
    _one_line_error(capsys, ["convert", tfforge_layers_model, dst, "--keep-tfforge-ops"], "TfforgeLayerNorm",
                    "--allow-custom-ops")
    assert not dst.exists()


def test_keep_tfforge_ops_as_custom_ops_says_what_a_runtime_needs(tfforge_layers_model, tmp_path, capsys):
    dst = tmp_path / "ln.tflite"
    code = cli_main(["convert", str(tfforge_layers_model), str(dst), "--keep-tfforge-ops", "--allow-custom-ops"])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err, captured.err
    assert b"TfforgeLayerNorm" in dst.read_bytes()
    assert "must register a kernel" in captured.out and "not verified" in captured.out
    _one_line_error(capsys, ["verify", tfforge_layers_model, dst], "custom op TfforgeLayerNorm")


def test_garbage_tflite_is_one_line_not_a_crash(models, tmp_path, capsys):
    """TensorFlow's interpreter segfaults on an unverified flatbuffer; ai_edge_litert's verifier rejects it."""
    pytest.importorskip("ai_edge_litert")
    path = tmp_path / "garbage.tflite"
    path.write_bytes(b"1234TFL3" + b"\xff" * 64)
    _one_line_error(capsys, ["verify", models / "m.keras", path], "garbage.tflite", "not a valid .tflite")


@pytest.mark.parametrize("argv", [["verify", "M", "M", "--samples", "0"], ["verify", "M", "M", "--samples", "-3"],
                                  ["convert", "M", "OUT", "--samples", "0"]])
def test_samples_must_be_positive(models, tmp_path, capsys, argv):
    argv = [str(models / "m.keras") if a == "M" else str(tmp_path / "o.tflite") if a == "OUT" else a for a in argv]
    try:
        code = cli_main(argv)
    except SystemExit as exc:  # argparse's usage error, unless the CLI frame turns it into a return code
        code = exc.code
    assert code == 2 and "--samples" in capsys.readouterr().err
    with pytest.raises(ConversionError, match="at least 1"):
        verify(str(models / "m.keras"), str(models / "m.keras"), samples=0)


def test_representative_prefix_matching_nothing(models, tmp_path, capsys):
    _one_line_error(capsys, ["convert", models / "m.keras", tmp_path / "o.tflite", "--quantize", "int8",
                             "--representative", tmp_path / "nothere"], "nothere", "no such .npz file or TFRecord")
