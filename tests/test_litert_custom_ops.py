"""`--keep-tfforge-ops --allow-custom-ops`: tfforge's ops written as TFLite custom ops (custom code, the
op's inputs, attributes in the flexbuffer custom options), with one paragraph saying what a runtime must
register; misplaced TFLite-only flags are one line."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
tfk = pytest.importorskip("tfforge.keras")
flexbuffers = pytest.importorskip("flatbuffers.flexbuffers")

from tfforge.cli.main import main as cli_main  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    keras.utils.set_random_seed(3)
    inp = keras.Input((4, 8), name="x")
    h = tfk.DenseGELU(16, approximate=True, name="ff")(inp)
    h = tfk.LayerNormalization(epsilon=1e-5, name="ln")(h)
    h = tfk.RMSNormalization(epsilon=1e-6, name="rms")(h)
    out = keras.layers.Dense(2, name="out")(h)
    path = tmp_path_factory.mktemp("custom") / "m.keras"
    keras.Model(inp, out).save(path)
    return path


def _custom_ops(data: bytes):
    """{custom code: [(input tensor shapes, output count, options)]} read with LiteRT's flatbuffer schema."""
    from ai_edge_litert import schema_py_generated as schema
    m = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = m.subgraphs[0]
    found = {}
    for op in graph.operators:
        code = m.operatorCodes[op.opcodeIndex].customCode
        if code:
            options = flexbuffers.Loads(bytes(bytearray(op.customOptions)))
            shapes = [list(graph.tensors[i].shape) for i in op.inputs]
            found.setdefault(code.decode(), []).append((shapes, len(op.outputs), options))
    return found


def test_custom_ops_carry_inputs_and_attributes(model, tmp_path, capsys):
    dst = tmp_path / "m.tflite"
    code = cli_main(["convert", str(model), str(dst), "--keep-tfforge-ops", "--allow-custom-ops",
                     "--input-shape", "1,4,8"])
    out = capsys.readouterr().out
    assert code == 0
    ops = _custom_ops(dst.read_bytes())
    assert sorted(ops) == ["TfforgeBiasGelu", "TfforgeLayerNorm", "TfforgeRMSNorm"]
    (gelu,), (ln,), (rms,) = ops["TfforgeBiasGelu"], ops["TfforgeLayerNorm"], ops["TfforgeRMSNorm"]
    assert gelu[0] == [[1, 4, 16], [16]] and gelu[2]["approximate"] is True
    assert ln[0] == [[1, 4, 16], [16], [16]] and ln[1] == 3 and ln[2]["epsilon"] == pytest.approx(1e-5)
    assert rms[0] == [[1, 4, 16], [16]] and rms[2]["epsilon"] == pytest.approx(1e-6)
    # The statement: printed once, one paragraph, each op with its tensors and options, how to register.
    (statement,) = [line for line in out.splitlines() if "custom ops" in line]
    for needle in ("TfforgeBiasGelu(x, bias) -> y", "TfforgeLayerNorm(x, gamma, beta) -> y, mean, inv_std",
                   "TfforgeRMSNorm(x, gamma) -> y", "approximate=True", "epsilon=1e-05", "T=FLOAT32",
                   "MutableOpResolver::AddCustom", "FlexBuffer map", "without --keep-tfforge-ops"):
        assert needle in statement, needle
    assert "not verified" in out
    # No MLIR dump anywhere.
    for garble in ("tensor<", "loc(", "tf.Tfforge", "func.func", "Traceback"):
        assert garble not in out


@pytest.mark.parametrize("argv, needle", [
    (["DST.pb", "--allow-custom-ops"], "--allow-custom-ops applies to TFLite exports"),
    (["DST.pb", "--keep-tfforge-ops"], "--keep-tfforge-ops applies to TFLite exports"),
    (["DST", "--keep-tfforge-ops", "--allow-custom-ops"], "--allow-custom-ops, --keep-tfforge-ops apply to TFLite"),
    (["DST.tflite", "--keep-tfforge-ops"], "add --allow-custom-ops")])
def test_misplaced_custom_op_flags_are_one_line(model, tmp_path, capsys, argv, needle):
    argv = [str(tmp_path / a) if a.startswith("DST") else a for a in argv]
    code = cli_main(["convert", str(model)] + argv)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1 and needle in lines[0], lines
    assert not any((tmp_path / n).exists() for n in ("DST", "DST.pb", "DST.tflite"))
