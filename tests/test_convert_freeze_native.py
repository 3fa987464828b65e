"""TF1 freeze without TensorFlow: `tfforge freeze` of a TF1 checkpoint + .meta runs with TensorFlow
blocked (the .meta read by the native graph engine, variables resolved through the saver's restore ops,
weights spliced from the checkpoint engine), and the frozen graphs compute what TensorFlow's session
computes, and match freeze_graph.py's output where freeze_graph.py can freeze the model. Covers
VariableV2 and resource variables inside a TF1 while loop, and a partitioned variable (its partitions
become slices of the checkpoint tensor; freeze_graph.py refuses those). A V1 checkpoint falls back to
TensorFlow's reader and says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from test_convert_models import X4, tf1_checkpoint  # noqa: E402
from tfforge.convert import freeze  # noqa: E402
from tfforge.convert.frozen import read_graph_def  # noqa: E402

pytestmark = pytest.mark.tensorflow
v1 = tf.compat.v1

FREEZE_WITHOUT_TF = """
    import sys
    from tfforge.cli.main import main
    code = main(["freeze", *sys.argv[1:]])
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow was imported"
    sys.exit(code)
"""


def _freeze_without_tensorflow(*args):
    code = (__import__("conftest").BLOCK_TENSORFLOW + textwrap.dedent(FREEZE_WITHOUT_TF))
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def _run(pb, feeds: dict, output="y:0"):
    g = tf.Graph()
    with g.as_default():
        v1.import_graph_def(read_graph_def(pb), name="")
    with v1.Session(graph=g) as sess:
        return sess.run(output, feeds)


def _consts(pb) -> dict:
    return {n.name: tf.make_ndarray(n.attr["value"].tensor) for n in read_graph_def(pb).node if n.op == "Const"}


def test_variablev2_with_a_while_loop_freezes_with_tensorflow_blocked(tmp_path):
    """TF1 ref variables read by a (functional) while loop: the loop takes the variables' values, so it
    is kept as it is and nothing needs TensorFlow."""
    d, refs, _ = tf1_checkpoint(False)
    out = tmp_path / "frozen.pb"
    proc = _freeze_without_tensorflow(d, out, "--outputs", "y")
    assert proc.returncode == 0, proc.stderr
    ops = {n.op for n in read_graph_def(out).node}
    assert not ops & {"VariableV2", "VarHandleOp", "ReadVariableOp", "RestoreV2", "Assign"}, ops
    np.testing.assert_allclose(_run(out, {"x:0": X4}), refs[2], rtol=1e-6)
    text = tmp_path / "frozen.pbtxt"  # text output, devices cleared, cut at an input: still no TensorFlow
    proc = _freeze_without_tensorflow(d, text, "--outputs", "y", "--inputs", "x", "--clear-devices")
    assert proc.returncode == 0, proc.stderr
    assert text.read_text().startswith("node {")
    assert read_graph_def(text) == read_graph_def(out)
    np.testing.assert_allclose(_run(text, {"x:0": X4}), refs[2], rtol=1e-6)


def test_resource_variables_in_a_functional_loop_fall_back_to_grappler_and_say_so(tmp_path):
    d, refs, _ = tf1_checkpoint(True)
    result = freeze(d, tmp_path / "frozen.pb", outputs="y")
    assert any("Grappler" in n and "While" in n for n in result.notes), result.notes
    ops = {n.op for n in read_graph_def(tmp_path / "frozen.pb").node}
    assert {"Enter", "Exit", "NextIteration"} <= ops and not ops & {"VarHandleOp", "ReadVariableOp"}
    np.testing.assert_allclose(_run(tmp_path / "frozen.pb", {"x:0": X4}), refs[2], rtol=1e-6)


def _resource_v1_loop_checkpoint(directory):
    """Resource variables read inside a TF1 (v1 control flow: Enter/Switch/Merge/Exit) while loop and by
    an embedding lookup (ResourceGather)."""
    ids = np.array([[0, 2], [1, 1]], np.int32)
    x_value = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    v1.disable_control_flow_v2()
    try:
        g = tf.Graph()
        with g.as_default():
            x = v1.placeholder(tf.float32, [None, 4], name="x")
            tokens = v1.placeholder(tf.int32, [None, 2], name="ids")
            w = v1.get_variable("w", [4, 4], initializer=v1.random_normal_initializer(seed=5), use_resource=True)
            emb = v1.get_variable("emb", [3, 4], initializer=v1.random_normal_initializer(seed=6), use_resource=True)
            h = x + tf.reduce_sum(tf.nn.embedding_lookup(emb, tokens), axis=1)
            _, h = tf.while_loop(lambda i, h: i < 2, lambda i, h: (i + 1, tf.tanh(tf.matmul(h, w))), [0, h])
            tf.identity(h, name="y")
            with v1.Session(graph=g) as sess:
                sess.run(v1.global_variables_initializer())
                prefix = v1.train.Saver().save(sess, os.path.join(directory, "model.ckpt"))
                expected = sess.run("y:0", {"x:0": x_value, "ids:0": ids})
        assert {"Enter", "ResourceGather"} <= {op.type for op in g.get_operations()}
    finally:
        v1.enable_control_flow_v2()
    return prefix, {"x:0": x_value, "ids:0": ids}, expected


def test_resource_variables_in_a_tf1_loop_freeze_with_tensorflow_blocked(tmp_path):
    prefix, feeds, expected = _resource_v1_loop_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "frozen.pb"
    proc = _freeze_without_tensorflow(prefix, out, "--outputs", "y")
    assert proc.returncode == 0, proc.stderr
    ops = {n.op for n in read_graph_def(out).node}
    assert "GatherV2" in ops and not ops & {"VarHandleOp", "ReadVariableOp", "ResourceGather"}, ops
    np.testing.assert_allclose(_run(out, feeds), expected, rtol=1e-6)


def test_matches_freeze_graph_py(tmp_path):
    """Same node names and the same constant values as tensorflow/python/tools/freeze_graph.py."""
    d, _, _ = tf1_checkpoint(False)
    ckpt = tf.train.latest_checkpoint(d)
    theirs = tmp_path / "freeze_graph.pb"
    oracle = textwrap.dedent("""
        import sys
        from tensorflow.python.tools import freeze_graph
        freeze_graph.freeze_graph(input_graph=None, input_saver=None, input_binary=True, input_checkpoint=sys.argv[1],
                                  output_node_names="y", restore_op_name=None, filename_tensor_name=None,
                                  output_graph=sys.argv[2], clear_devices=True, initializer_nodes="",
                                  input_meta_graph=sys.argv[1] + ".meta")
    """)
    proc = subprocess.run([sys.executable, "-c", oracle, ckpt, str(theirs)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    ours = tmp_path / "ours.pb"
    assert _freeze_without_tensorflow(d, ours, "--outputs", "y", "--clear-devices").returncode == 0
    assert {n.name for n in read_graph_def(ours).node} == {n.name for n in read_graph_def(theirs).node}
    a, b = _consts(ours), _consts(theirs)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def _partitioned_checkpoint(directory) -> tuple[str, np.ndarray, np.ndarray]:
    """y = x @ w + b with w [6, 3] in 3 partitions (fixed_size_partitioner) and b a resource variable."""
    x_value = np.arange(12, dtype=np.float32).reshape(2, 6) / 10
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 6], name="x")
        with v1.variable_scope("layer", partitioner=v1.fixed_size_partitioner(3)):
            w = v1.get_variable("w", [6, 3], initializer=v1.random_normal_initializer(seed=4))
        b = v1.get_variable("b", [3], initializer=v1.constant_initializer(0.25), use_resource=True)
        tf.identity(tf.matmul(x, w) + b, name="y")
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            prefix = v1.train.Saver().save(sess, os.path.join(directory, "model.ckpt"))
            expected = sess.run("y:0", {"x:0": x_value})
    assert any("/part_2" in op.name for op in g.get_operations())
    return prefix, x_value, expected


def test_partitioned_variable_becomes_slices_of_the_checkpoint_tensor(tmp_path):
    prefix, x_value, expected = _partitioned_checkpoint(tmp_path / "ckpt")
    out = tmp_path / "frozen.pb"
    proc = _freeze_without_tensorflow(prefix, out, "--outputs", "y", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["constants"] == 4  # three partitions and b
    consts = _consts(out)
    parts = [consts[f"layer/w/part_{i}"] for i in range(3)]
    np.testing.assert_array_equal(np.concatenate(parts), tf.train.load_checkpoint(prefix).get_tensor("layer/w"))
    np.testing.assert_allclose(_run(out, {"x:0": x_value}), expected, rtol=1e-6)


def test_v1_checkpoint_falls_back_to_tensorflow_and_says_why(tmp_path):
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 2], name="x")
        w = v1.get_variable("w", [2, 2], initializer=v1.constant_initializer(3.0))
        tf.identity(tf.matmul(x, w), name="y")
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            prefix = v1.train.Saver(write_version=v1.train.SaverDef.V1).save(sess, str(tmp_path / "model.ckpt"))
    result = freeze(prefix, tmp_path / "out.pb", outputs="y")
    assert [n for n in result.notes if "TensorFlow" in n] == [
        "read the checkpoint with TensorFlow's reader: it is a V1 checkpoint (Saver(write_version=V1)), which "
        "tfforge's native engine does not read"]
    np.testing.assert_array_equal(_run(tmp_path / "out.pb", {"x:0": np.ones((1, 2), np.float32)}), [[6.0, 6.0]])
