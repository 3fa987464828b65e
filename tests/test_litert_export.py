"""LiteRT export of models with tfforge ops: with pinned input shapes, XNNPack takes the whole graph in
float32, float16, dynamic-range int8 and calibrated full int8, asked of ai-edge-litert's interpreter;
outputs match the TensorFlow model and the plain TFLite export of the same model built from stock
Keras layers."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
litert = pytest.importorskip("ai_edge_litert.interpreter")
tfk = pytest.importorskip("tfforge.keras")

from tfforge.cli.main import main as cli_main  # noqa: E402
from tfforge.convert import convert  # noqa: E402
from tfforge.convert.litert_delegation import xnnpack_delegation  # noqa: E402
from tfforge.errors import ConversionError  # noqa: E402

SEQ, HIDDEN, FF = 8, 32, 64  # weights of >= 1024 values, which dynamic-range int8 quantizes
SHAPE = (1, SEQ, HIDDEN)
MODES = ("none", "float16", "dynamic", "int8")
# max |tflite - TF model| / max |TF model| allowed per mode (int8: on its calibration data)
TOLERANCE = {"none": 1e-5, "float16": 3e-3, "dynamic": 3e-2, "int8": 0.08}


def _block(layers):
    """Dense+GELU -> Dense -> residual -> LayerNorm -> RMSNorm -> Dense, from `layers` (tfforge or Keras)."""
    dense_gelu, layer_norm, rms_norm = layers
    inp = keras.Input((SEQ, HIDDEN), name="x")
    h = dense_gelu(FF, name="ff")(inp)
    h = keras.layers.Dense(HIDDEN, name="proj")(h)
    h = keras.layers.Add(name="res")([h, inp])
    h = layer_norm(epsilon=1e-5, name="ln")(h)
    h = rms_norm(epsilon=1e-6, name="rms")(h)
    return keras.Model(inp, keras.layers.Dense(4, name="out")(h))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("litert")
    keras.utils.set_random_seed(11)
    fused = _block((tfk.DenseGELU, tfk.LayerNormalization, tfk.RMSNormalization))
    plain = _block((lambda units, name: keras.layers.Dense(units, activation="gelu", name=name),
                    keras.layers.LayerNormalization, keras.layers.RMSNormalization))
    rng = np.random.default_rng(0)
    # Non-trivial gamma / beta / scale, so the norms' affine part is not folded away.
    fused.set_weights([w + 0.3 * rng.standard_normal(w.shape).astype(np.float32) for w in fused.get_weights()])
    plain.set_weights(fused.get_weights())
    fused.save(root / "fused.keras")
    plain.save(root / "plain.keras")
    calib = (0.5 + 1.5 * rng.standard_normal((48,) + SHAPE[1:])).astype(np.float32)
    np.savez(root / "calib.npz", x=calib)
    data = calib[:8]
    return root, fused, data


@pytest.fixture(scope="module")
def exports(models):
    """{(model, mode): path}: the tfforge model exported with pinned shapes, the plain one as TFLite's
    default export (dynamic batch)."""
    root, _, _ = models
    paths = {}
    for mode in MODES:
        rep = str(root / "calib.npz") if mode == "int8" else None
        for name, shapes in (("fused", [SHAPE]), ("plain", None)):
            dst = root / f"{name}_{mode}.tflite"
            convert(root / f"{name}.keras", dst, quantize=mode, representative=rep, verify=False,
                    input_shapes=shapes[0] if shapes else None)
            paths[name, mode] = dst
    return paths


def _interpreter(path):
    interp = litert.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    return interp


def _run(path, x):
    """Runs x through the .tflite with LiteRT: row by row when the batch is pinned to 1, else at once."""
    interp = _interpreter(path)
    (detail,) = interp.get_input_details()
    (out_detail,) = interp.get_output_details()
    batches = [x[i:i + 1] for i in range(len(x))]
    if detail["shape_signature"][0] == -1:
        interp.resize_tensor_input(detail["index"], x.shape)
        interp.allocate_tensors()
        batches = [x]
    outs = []
    for value in batches:
        scale, zero = detail["quantization"]
        if detail["dtype"] == np.int8:
            value = np.clip(np.round(value / scale + zero), -128, 127)
        interp.set_tensor(detail["index"], value.astype(detail["dtype"]))
        interp.invoke()
        y = interp.get_tensor(out_detail["index"])
        scale, zero = out_detail["quantization"]
        outs.append((y.astype(np.float32) - zero) * scale if y.dtype == np.int8 else y.copy())
    return np.concatenate(outs)


@pytest.mark.parametrize("mode", MODES)
def test_xnnpack_takes_the_whole_graph(exports, mode):
    """Asked of the interpreter: one DELEGATE node fed by the model's inputs and weights only, whose outputs
    are the model's outputs (so no node is left to the reference kernels), and no tensor with a run-time
    shape."""
    interp = _interpreter(exports["fused", mode])
    ops = interp._get_ops_details()
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    assert len(delegates) == 1, [op["op_name"] for op in ops]
    graph_in = {d["index"] for d in interp.get_input_details()}
    graph_out = {d["index"] for d in interp.get_output_details()}
    assert set(int(t) for t in delegates[0]["outputs"]) == graph_out
    produced = {int(t) for op in ops if op["op_name"] != "DELEGATE" for t in op["outputs"]}
    fed = {int(t) for t in delegates[0]["inputs"]}
    assert graph_in <= fed and not (fed - graph_in) & produced  # the rest are weights, produced by no node
    assert all(-1 not in t["shape_signature"] for t in interp.get_tensor_details())
    report = xnnpack_delegation(exports["fused", mode])
    assert report.whole and report.delegated == report.nodes == len(ops) - 1 and not report.left
    if mode == "int8":  # full integer: int8 in and out, the norms in float between (de)quantize
        assert interp.get_input_details()[0]["dtype"] == np.int8
        names = [op["op_name"] for op in ops]
        assert "QUANTIZE" in names and "DEQUANTIZE" in names and "RSQRT" in names
        for op in ops:
            if op["op_name"] in ("RSQRT", "GELU", "SQUARED_DIFFERENCE", "SQUARE", "MEAN"):
                assert op["result_types"] == [np.float32], op
            if op["op_name"] == "FULLY_CONNECTED":
                assert op["result_types"] == [np.int8], op


@pytest.mark.parametrize("mode", MODES)
def test_plain_dynamic_batch_export_is_not_whole(exports, mode):
    """The check above can fail: TFLite's default export of the stock Keras model (unknown batch) leaves
    the shape arithmetic of Dense on a sequence to the reference kernels."""
    report = xnnpack_delegation(exports["plain", mode])
    assert not report.whole and "SHAPE" in report.left and report.dynamic


@pytest.mark.parametrize("mode", MODES)
def test_parity_with_tensorflow_and_the_plain_export(models, exports, mode):
    _, fused, data = models
    ref = fused.predict(data, verbose=0)
    got = _run(exports["fused", mode], data)
    plain = _run(exports["plain", mode], data)
    scale = np.max(np.abs(ref))
    err = np.max(np.abs(got - ref)) / scale
    plain_err = np.max(np.abs(plain - ref)) / scale
    assert err <= TOLERANCE[mode], (err, plain_err)
    if mode == "dynamic":  # the weights really are int8
        assert err > 1e-5
    if mode in ("none", "float16"):
        np.testing.assert_allclose(got, plain, atol=TOLERANCE[mode] * scale)
    else:  # quantized: no worse than the plain export quantized the same way (plus 1% of the range)
        assert err <= plain_err + 0.01, (err, plain_err)


def test_unpinned_export_says_what_to_pin(models, tmp_path):
    root, _, _ = models
    result = convert(root / "fused.keras", tmp_path / "dyn.tflite")
    (note,) = [n for n in result.notes if "XNNPack" in n]
    assert "SHAPE" in note and "--input-shape x=1,8,32" in note
    result = convert(root / "fused.keras", tmp_path / "pinned.tflite", input_shapes={"x": SHAPE}, samples=3)
    assert any(n.startswith("XNNPack takes the whole graph") for n in result.notes)
    assert result.parity.samples == 3 and result.parity.max_abs < 1e-4  # three batch-1 runs


def test_cli_input_shape(models, tmp_path, capsys):
    root, _, _ = models
    dst = tmp_path / "cli.tflite"
    assert cli_main(["convert", str(root / "fused.keras"), str(dst), "--input-shape", "x=2,8,32"]) == 0
    out = capsys.readouterr().out
    assert "XNNPack takes the whole graph" in out and "parity on 4 samples" in out
    assert list(_interpreter(dst).get_input_details()[0]["shape_signature"]) == [2, 8, 32]


@pytest.mark.parametrize("spec, needle", [
    ("x=0,8,32", "positive dimensions"), ("y=1,8,32", "the inputs are x"), ("x=1,8", "does not fit"),
    ("x=1,8,17", "does not fit"), ("1,a", "NAME=D0,D1")])
def test_bad_input_shape_is_one_line(models, tmp_path, capsys, spec, needle):
    root, _, _ = models
    dst = tmp_path / "bad.tflite"
    code = cli_main(["convert", str(root / "fused.keras"), str(dst), "--input-shape", spec])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and needle in lines[0], lines
    assert not dst.exists()


def test_input_shape_is_for_tflite_only(models, tmp_path):
    root, _, _ = models
    with pytest.raises(ConversionError, match="--input-shape applies to TFLite exports"):
        convert(root / "fused.keras", tmp_path / "m.pb", input_shapes=SHAPE)


def test_int8_with_a_fixed_batch_calibrates_in_batches(models, tmp_path):
    root, fused, data = models
    dst = tmp_path / "b4.tflite"
    result = convert(root / "fused.keras", dst, quantize="int8", representative=str(root / "calib.npz"),
                     input_shapes={"x": (4, SEQ, HIDDEN)})
    assert result.parity.samples == 48 and xnnpack_delegation(dst).whole
    ref = fused.predict(data, verbose=0)
    assert np.max(np.abs(_run_batched(dst, data) - ref)) / np.max(np.abs(ref)) <= TOLERANCE["int8"]


def _run_batched(path, x):
    from tfforge.convert.runners import TFLiteRunner
    runner = TFLiteRunner(path)
    return runner.run({"x": x})[runner.outputs[0]]


@pytest.mark.parametrize("source", ["frozen", "savedmodel"])
def test_graphs_holding_tfforge_nodes(models, tmp_path, source):
    """A frozen graph or SavedModel whose graph holds TfforgeLayerNorm / TfforgeRMSNorm / TfforgeBiasGelu
    nodes (as `tfforge optimize` writes them) exports as whole for XNNPack too, in float and full int8."""
    from tfforge.convert import freeze
    from tfforge.convert.frozen import read_graph_def
    root, fused, data = models
    if source == "frozen":
        src = tmp_path / "m.pb"
        freeze(root / "fused.keras", src)
        assert {"TfforgeLayerNorm", "TfforgeRMSNorm", "TfforgeBiasGelu"} <= {n.op for n in read_graph_def(src).node}
    else:
        src = tmp_path / "sm"
        convert(root / "fused.keras", src, verify=False)
    ref = fused.predict(data, verbose=0)
    for mode in ("none", "int8"):
        dst = tmp_path / f"{source}_{mode}.tflite"
        convert(src, dst, quantize=mode, representative=str(root / "calib.npz") if mode == "int8" else None,
                input_shapes=SHAPE, verify=False)
        assert xnnpack_delegation(dst).whole, xnnpack_delegation(dst).summary()
        assert np.max(np.abs(_run(dst, data) - ref)) / np.max(np.abs(ref)) <= TOLERANCE[mode]
