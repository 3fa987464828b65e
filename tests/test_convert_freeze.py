"""tfforge freeze: every source format, checked by running the frozen graph in TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from test_convert_models import X4, keras_mlp_path, keras_two_io, run_frozen, savedmodel_two_signatures, \
    tf1_checkpoint

tf = pytest.importorskip("tensorflow")

from tfforge.convert import freeze  # noqa: E402
from tfforge.convert.frozen import read_graph_def  # noqa: E402
from tfforge.errors import ConversionError  # noqa: E402


def _ops(pb):
    return {n.op for n in read_graph_def(pb).node}


def test_tf1_checkpoint_dir_uses_latest_and_detects_output(tmp_path):
    d, refs, _ = tf1_checkpoint()
    out = tmp_path / "frozen.pb"
    result = freeze(d, out)
    assert result.outputs == ["y:0"] and result.inputs == ["x"]
    assert any("detected outputs: y" in n for n in result.notes)
    (y,) = run_frozen(out, {"x": X4}, ["y"])
    np.testing.assert_allclose(y, refs[2], rtol=1e-6)  # the latest step, not step 1
    ops = _ops(out)
    assert not ops & {"VariableV2", "VarHandleOp", "SaveV2", "RestoreV2", "Assign", "ScalarSummary", "AssignAdd"}
    assert "CheckNumerics" in ops  # the control dependency survives


def test_tf1_checkpoint_prefix_and_explicit_outputs(tmp_path):
    d, refs, _ = tf1_checkpoint()
    out = tmp_path / "step1.pbtxt"
    freeze(os.path.join(d, "model.ckpt-1"), out, outputs="y", clear_devices=True)
    assert out.read_text().lstrip().startswith("node")
    (y,) = run_frozen(out, {"x": X4}, ["y"])
    np.testing.assert_allclose(y, refs[1], rtol=1e-6)


def test_variable_allow_and_deny_lists(tmp_path):
    d, refs, _ = tf1_checkpoint()
    out = tmp_path / "partial.pb"
    result = freeze(d, out, outputs=["y"], exclude_variables="scale")
    assert result.constants == 2 and any("scale" in n for n in result.notes)
    kinds = {n.name: n.op for n in read_graph_def(out).node}
    assert kinds["scale"] == "VariableV2" and kinds["w"] == "Const"
    result = freeze(d, tmp_path / "only_w.pb", outputs=["y"], variables=["w"])
    assert result.constants == 1


def test_resource_variables_from_graphdef_where_freeze_graph_fails(tmp_path):
    d, refs, graph_def = tf1_checkpoint(use_resource=True)
    graph_path = tmp_path / "graph.pbtxt"
    from tfforge.convert.frozen import write_graph_def
    write_graph_def(graph_def, graph_path)
    out = tmp_path / "frozen.pb"
    freeze(d, out, graph=str(graph_path), outputs="y")
    assert "VarHandleOp" not in _ops(out) and "ReadVariableOp" not in _ops(out)
    (y,) = run_frozen(out, {"x": X4}, ["y"])
    np.testing.assert_allclose(y, refs[2], rtol=1e-6)


def test_freeze_graph_script_fails_on_that_input(tmp_path):
    """The reason the resource-variable path exists: TensorFlow's own script crashes on it."""
    d, _, graph_def = tf1_checkpoint(use_resource=True)
    graph_path = tmp_path / "graph.pb"
    graph_path.write_bytes(graph_def.SerializeToString())
    proc = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.freeze_graph",
                           f"--input_graph={graph_path}", "--input_binary=true",
                           f"--input_checkpoint={tf.train.latest_checkpoint(d)}", "--output_node_names=y",
                           f"--output_graph={tmp_path / 'tf.pb'}"], capture_output=True, text=True, timeout=180)
    assert proc.returncode != 0 and "IndexError" in proc.stderr


def test_resource_variables_with_meta(tmp_path):
    d, refs, _ = tf1_checkpoint(use_resource=True)
    out = tmp_path / "frozen.pb"
    freeze(d, out)
    (y,) = run_frozen(out, {"x": X4}, ["y"])
    np.testing.assert_allclose(y, refs[2], rtol=1e-6)


def test_inputs_cut_graph(tmp_path):
    d, refs, _ = tf1_checkpoint()
    out = tmp_path / "cut.pb"
    result = freeze(d, out, outputs="y", inputs="add")  # add = x @ w + b becomes the input
    assert result.inputs == ["add"]
    names = {n.name for n in read_graph_def(out).node}
    assert "x" not in names and "MatMul" not in names and "w" not in names


def test_keras_file(tmp_path):
    path, ref = keras_mlp_path("keras")
    out = tmp_path / "mlp.pb"
    result = freeze(path, out)
    assert result.inputs == ["features"] and result.outputs == ["probs:0"]
    (y,) = run_frozen(out, {"features": X4}, result.outputs)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    assert "ReadVariableOp" not in _ops(out) and "Placeholder" in _ops(out)


def test_keras_h5_file(tmp_path):
    path, ref = keras_mlp_path("h5")
    out = tmp_path / "mlp_h5.pb"
    result = freeze(path, out)
    (y,) = run_frozen(out, {result.inputs[0]: X4}, result.outputs)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_keras_two_inputs_two_outputs(tmp_path):
    path, (xa, xb), refs = keras_two_io()
    out = tmp_path / "two.pb"
    result = freeze(path, out)
    assert result.inputs == ["a", "b"] and result.outputs == ["head1:0", "head2:0"]
    ys = run_frozen(out, {"a": xa, "b": xb}, result.outputs)
    for y, ref in zip(ys, refs):
        np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)


def test_savedmodel_each_signature(tmp_path):
    path, refs = savedmodel_two_signatures()
    for sig in ("serving_default", "embed"):
        out = tmp_path / f"{sig}.pb"
        result = freeze(path, out, signature=sig)
        assert sorted(o.split(":")[0] for o in result.outputs) == sorted(refs[sig])
        ys = run_frozen(out, {"x": X4}, result.outputs)
        for name, y in zip(result.outputs, ys):
            np.testing.assert_allclose(y, refs[sig][name.split(":")[0]], rtol=1e-5, atol=1e-6)
        assert not _ops(out) & {"VarHandleOp", "ReadVariableOp", "ResourceGather", "StatefulPartitionedCall"}


def test_keras_safe_mode(tmp_path):
    import keras
    inp = keras.Input((2,), name="x")
    model = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ConversionError, match="unsafe"):
        freeze(str(path), tmp_path / "no.pb")
    assert not (tmp_path / "no.pb").exists()
    result = freeze(str(path), tmp_path / "yes.pb", safe_mode=False)
    (y,) = run_frozen(tmp_path / "yes.pb", {"x": np.ones((1, 2), np.float32)}, result.outputs)
    np.testing.assert_allclose(y, [[2.0, 2.0]])


def test_errors_name_the_problem(tmp_path):
    d, _, _ = tf1_checkpoint()
    with pytest.raises(ConversionError, match="not in the graph"):
        freeze(d, tmp_path / "x.pb", outputs="nope")
    with pytest.raises(ConversionError, match="no such file"):
        freeze(str(tmp_path / "missing"), tmp_path / "x.pb")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ConversionError, match="zip"):
        freeze(str(bad), tmp_path / "x.pb")
    assert not list(tmp_path.glob("x.pb*"))


def test_cli_freeze(tmp_path):
    from tfforge.cli.main import main
    path, ref = keras_mlp_path("keras")
    assert main(["freeze", path, str(tmp_path / "cli.pb"), "--clear-devices"]) == 0
    (y,) = run_frozen(tmp_path / "cli.pb", {"features": X4}, ["probs"])
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
    assert main(["freeze", str(tmp_path / "nothing"), str(tmp_path / "o.pb")]) == 1


def test_initializer_nodes_are_kept_for_lookup_tables(tmp_path):
    """freeze_graph's --initializer_nodes case: a vocabulary table the frozen graph initialises itself."""
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        words = v1.placeholder(tf.string, [None], name="words")
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(["a", "b", "c"]), tf.constant([1, 2, 3], tf.int64)), -1)
        scale = v1.get_variable("scale", [], tf.int64, initializer=v1.constant_initializer(10))
        tf.identity(table.lookup(words) * scale, name="ids")
        init_tables = v1.tables_initializer(name="init_tables")
        saver = v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run([v1.global_variables_initializer(), init_tables])
            prefix = saver.save(sess, str(tmp_path / "m.ckpt"))
    out = tmp_path / "tables.pb"
    result = freeze(prefix, out, outputs="ids", initializer_nodes="init_tables")
    assert any("init_tables" in n for n in result.notes)
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(read_graph_def(out), name="")
    with v1.Session(graph=graph) as sess:
        sess.run("init_tables")
        np.testing.assert_array_equal(sess.run("ids:0", {"words:0": [b"b", b"z", b"a"]}), [20, -10, 10])


def test_savedmodel_weights_come_from_the_checkpoint_without_restoring(tmp_path):
    """The SavedModel path pairs variables with their checkpoint tensors instead of restoring them."""
    from tfforge.convert.savedmodel_source import _load_without_restoring
    path, refs = savedmodel_two_signatures()
    fast = _load_without_restoring(path, None)
    assert fast is not None
    root, values = fast
    fn = root.signatures["embed"]
    got = [values(external) for external, _ in fn.graph.captures if external.dtype == tf.resource]
    # ranges of the data shard that the writer streams out (tfforge.checkpoint stored()), not copies
    from tfforge.convert.frozen import StoredWeight
    assert len(got) == 2 and all(isinstance(v, StoredWeight) and ".data-" in v.stored.path for v in got)
    keras_sm = tmp_path / "keras_sm"
    path_k, ref = keras_mlp_path("keras")
    import keras
    keras.models.load_model(path_k).export(str(keras_sm), format="tf_saved_model", verbose=False)
    assert _load_without_restoring(str(keras_sm), None) is not None
    result = freeze(str(keras_sm), tmp_path / "k.pb")
    (y,) = run_frozen(tmp_path / "k.pb", {result.inputs[0]: X4}, result.outputs)
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-6)
