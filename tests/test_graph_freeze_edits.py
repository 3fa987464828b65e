"""The graph engine's freezing edits (cc/graph/freeze.cc): replace_with_const with borrowed weight bytes
(written straight from the caller's buffer, readable back, kept through passes and copies), and the
rewrite of a frozen resource variable's readers, checked by running the result in TensorFlow."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from tfforge.graph import Graph

# GraphDef {node {name: "a" op: "NoOp"} node {name: "b" op: "NoOp" input: "^a"}}
GRAPH = (bytes([0x0A, 0x09, 0x0A, 0x01]) + b"a" + bytes([0x12, 0x04]) + b"NoOp" +
         bytes([0x0A, 0x0D, 0x0A, 0x01]) + b"b" + bytes([0x12, 0x04]) + b"NoOp" + bytes([0x1A, 0x02]) + b"^a")


def _weights():
    return np.arange(24, dtype=np.float32).reshape(2, 3, 4)


def test_borrowed_const_writes_the_same_bytes_as_a_copied_one(tmp_path):
    borrowed, copied = Graph.from_bytes(GRAPH), Graph.from_bytes(GRAPH)
    w = _weights()
    w.setflags(write=False)
    borrowed.replace_with_const("a", w, borrow=True)
    copied.replace_with_const("a", w)
    assert borrowed.to_bytes() == copied.to_bytes()
    borrowed.save(tmp_path / "b.pb")
    assert (tmp_path / "b.pb").read_bytes() == copied.to_bytes()
    node = borrowed.node("a")
    assert node.op == "Const" and node.attr["dtype"] == "DT_FLOAT"
    np.testing.assert_array_equal(node.attr["value"].numpy(), w)
    assert node.attr.raw("value") == copied.node("a").attr.raw("value")


def test_borrowed_bytes_outlive_the_callers_array_and_survive_passes_and_copies():
    g = Graph.from_bytes(GRAPH)
    g.replace_with_const("a", _weights(), borrow=True)  # the only reference to the array is the graph's
    gc.collect()
    renamed = g.apply("rename_attribute(old_attribute_name=value, new_attribute_name=value2) "
                      "rename_attribute(old_attribute_name=value2, new_attribute_name=value) "
                      "merge_duplicate_nodes sort_by_execution_order")
    del g
    gc.collect()
    np.testing.assert_array_equal(renamed.node("a").attr["value"].numpy(), _weights())
    assert [n.name for n in renamed.nodes] == ["a", "b"]


def test_empty_and_scalar_borrowed_consts():
    g = Graph.from_bytes(GRAPH)
    g.replace_with_const("a", np.zeros((0, 3), np.int64), borrow=True)
    g.replace_with_const("b", np.float64(2.5), borrow=True)
    assert g.node("a").attr["value"].numpy().shape == (0, 3)
    assert g.node("b").attr["value"].numpy() == 2.5
    assert g.node("b").inputs == []  # a Const keeps no inputs, control ones included


def test_frozen_resource_readers_run_in_tensorflow():
    """ReadVariableOp -> Identity, ResourceGather -> GatherV2, VariableShape -> Shape, an Identity of the
    handle carrying the value: the rewritten graph computes what the variable computed."""
    tf = pytest.importorskip("tensorflow")
    from tfforge.convert import graph_edit
    v1 = tf.compat.v1
    value = np.arange(12, dtype=np.float32).reshape(4, 3)
    g = tf.Graph()
    with g.as_default():
        handle = v1.raw_ops.VarHandleOp(dtype=tf.float32, shape=[4, 3], shared_name="v", name="v")
        passed = tf.identity(handle, name="passed")
        read = v1.raw_ops.ReadVariableOp(resource=passed, dtype=tf.float32, name="read")
        rows = v1.raw_ops.ResourceGather(resource=handle, indices=[2, 0], dtype=tf.float32, name="rows")
        shape = v1.raw_ops.VariableShape(input=handle, name="shape")
        tf.identity(tf.reduce_sum(read) + tf.reduce_sum(rows) + tf.cast(tf.reduce_prod(shape), tf.float32), name="y")
    graph = Graph.from_bytes(g.as_graph_def().SerializeToString())
    graph_edit.splice_weights(graph, {"v": value})
    ops = {n.name: n.op for n in graph.nodes}
    assert (ops["v"], ops["read"], ops["rows"], ops["shape"]) == ("Const", "Identity", "GatherV2", "Shape")
    frozen = tf.Graph()
    with frozen.as_default():
        v1.import_graph_def(v1.GraphDef.FromString(graph.to_bytes()), name="")
    with v1.Session(graph=frozen) as sess:
        got = sess.run("y:0")
    assert got == value.sum() + value[[2, 0]].sum() + 12
