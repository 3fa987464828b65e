"""The native GraphDef index and writer, checked against TensorFlow's protobuf parse of real graphs."""

from __future__ import annotations

import os

import numpy as np
import pytest

import graph_models as gm
import tfforge.graph as tg
from tfforge.errors import GraphError

pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module", params=["mobilenet", "tf1_control_flow", "tf2_function_graph"])
def model(request):
    return getattr(gm, request.param)()


def test_index_matches_protobuf(model):
    data, _, _ = model
    g = tg.Graph.from_bytes(data)
    gd = gm.graph_def(data)
    assert len(g) == len(gd.node)
    for ours, theirs in zip(g.nodes, gd.node):
        assert (ours.name, ours.op, ours.inputs, ours.device) == (theirs.name, theirs.op, list(theirs.input), theirs.device)
        assert sorted(ours.attr) == sorted(theirs.attr)
    assert g.library_functions == [f.signature.name for f in gd.library.function]


def test_untouched_graph_writes_identical_bytes(model, tmp_path):
    data, _, _ = model
    g = tg.Graph.from_bytes(memoryview(data))
    assert g.to_bytes() == data
    path = tmp_path / "copy.pb"
    g.save(path)
    assert path.read_bytes() == data
    assert os.listdir(tmp_path) == ["copy.pb"]  # the temporary name was renamed away
    assert tg.load(path).to_bytes() == data


def test_attrs_decode_like_tensorflow():
    t = gm.tf()
    data, _, _ = gm.mobilenet()
    g = tg.Graph.from_bytes(data)
    gd = gm.graph_def(data)
    checked = 0
    for node in gd.node:
        attr = g.node(node.name).attr
        for key, value in node.attr.items():
            kind = value.WhichOneof("value")
            ours = attr[key]
            if kind == "tensor":
                np.testing.assert_array_equal(ours.numpy(), t.make_ndarray(value.tensor))
                assert ours.dtype == _dt_name(value.tensor.dtype)
                checked += 1
            elif kind == "type":
                assert ours == _dt_name(value.type)
            elif kind == "shape":
                expect = None if value.shape.unknown_rank else tuple(d.size for d in value.shape.dim)
                assert ours == expect
            elif kind in ("s", "i", "f", "b"):
                assert ours == (pytest.approx(value.f) if kind == "f" else getattr(value, kind))
            elif kind == "list":
                for field in ("s", "i", "f", "b"):
                    if getattr(value.list, field):
                        assert ours == pytest.approx(list(getattr(value.list, field)))
    assert checked > 50


def _dt_name(enum_value: int) -> str:
    from tensorflow.core.framework import types_pb2
    return types_pb2.DataType.Name(enum_value)


def test_typed_value_tensors_broadcast_like_tensorflow():
    t = gm.tf()
    g = t.Graph()
    with g.as_default():
        t.constant(3.5, shape=(2, 3), name="filled")  # one float_val, broadcast
        t.constant([1, 2, 3], dtype=t.int64, name="ints")
        t.constant([b"a", b"bc"], name="strings")
        t.constant(np.array([1.5, -2], np.float16), name="halves")
        t.constant([True, False], name="bools")
    gd = g.as_graph_def()
    ours = tg.Graph.from_bytes(gd.SerializeToString())
    for node in gd.node:
        np.testing.assert_array_equal(ours.node(node.name).attr["value"].numpy(), t.make_ndarray(node.attr["value"].tensor))


def test_replace_with_const_computes_like_feeding():
    data, _, _ = gm.tf1_control_flow()
    g = tg.Graph.from_bytes(data)
    x = np.random.default_rng(0).standard_normal((2, 4)).astype(np.float32)
    scale = np.float32(0.5)
    expect = gm.run(data, {"x": x, "scale": scale}, ["out"])[0]
    g.replace_with_const("x", x)
    g.replace_with_const("scale", np.array(scale))
    node = g.node("x")
    assert node.op == "Const" and node.inputs == [] and node.attr["dtype"] == "DT_FLOAT"
    np.testing.assert_array_equal(node.attr["value"].numpy(), x)
    got = gm.run(g.to_bytes(), {}, ["out"])[0]
    np.testing.assert_allclose(got, expect, rtol=1e-6)
    # untouched nodes keep their exact bytes
    before = {n.name: n for n in gm.graph_def(data).node}
    after = gm.graph_def(g.to_bytes())
    for n in after.node:
        if n.name not in ("x", "scale"):
            assert n.SerializeToString() == before[n.name].SerializeToString()


def test_replace_with_const_string_and_int():
    t = gm.tf()
    g = t.Graph()
    with g.as_default():
        a = t.compat.v1.placeholder(t.string, (2,), name="a")
        b = t.compat.v1.placeholder(t.int64, (3,), name="b")
        t.strings.join([a, a], name="joined")
        t.reduce_sum(b, name="total")
    ours = tg.Graph.from_bytes(g.as_graph_def().SerializeToString())
    ours.replace_with_const("a", np.array([b"x", b"yz"], dtype=object))
    ours.replace_with_const("b", np.array([1, 2, 40], np.int64))
    joined, total = gm.run(ours.to_bytes(), {}, ["joined", "total"])
    assert list(joined) == [b"xx", b"yzyz"] and total == 43


def test_saved_model_graph_and_tags():
    path = gm.saved_model()
    g = tg.load(path)
    from tensorflow.core.protobuf import saved_model_pb2
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    mg = sm.meta_graphs[0]
    assert g.kind == "saved_model" and g.meta["tags"] == list(mg.meta_info_def.tags)
    assert [n.name for n in g.nodes] == [n.name for n in mg.graph_def.node]
    assert sorted(g.library_functions) == sorted(f.signature.name for f in mg.graph_def.library.function)
    assert gm.graph_def(g.to_bytes()) == mg.graph_def
    # the MetaGraphDef round-trips with the graph spliced back in
    rebuilt = type(mg)()
    rebuilt.ParseFromString(g.meta_graph_bytes())
    assert rebuilt == mg
    with pytest.raises(GraphError, match="no meta graph with tags"):
        tg.load(path, tags="train")


def test_meta_graph_file():
    path = gm.tf1_meta_graph()
    g = tg.load(path)
    from tensorflow.core.protobuf import meta_graph_pb2
    mg = meta_graph_pb2.MetaGraphDef()
    with open(path, "rb") as f:
        mg.ParseFromString(f.read())
    assert g.kind == "meta_graph" and gm.graph_def(g.to_bytes()) == mg.graph_def
    assert "y" in g and g.node("y").op == "Identity"


def test_missing_node_names_it():
    g = tg.Graph.from_bytes(gm.tf1_control_flow()[0])
    with pytest.raises(GraphError, match="nope"):
        g.node("nope")
