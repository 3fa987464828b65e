"""Native text format against protobuf's text_format: exact round trip, each side reads the other."""

from __future__ import annotations

import os

import numpy as np
import pytest
from google.protobuf import text_format

import graph_models as gm
import tfforge.graph as tg
from tfforge.cli.main import main
from tfforge.errors import GraphError
from tfforge.graph import text

pytestmark = pytest.mark.tensorflow


@pytest.mark.parametrize("name", ["mobilenet", "tf1_control_flow", "tf2_function_graph"])
def test_graph_def_round_trip_and_protobuf_agreement(name):
    data, _, _ = getattr(gm, name)()
    gd = gm.graph_def(data)
    ours = text.to_text(data)
    assert text.parse(ours) == data  # exact bytes
    assert text_format.Parse(ours, type(gd)()) == gd  # protobuf reads our text
    assert gm.graph_def(text.parse(text_format.MessageToString(gd))) == gd  # we read protobuf's text


def test_special_values_round_trip():
    t = gm.tf()
    g = t.Graph()
    with g.as_default():
        t.constant(np.array([np.inf, -np.inf, 1e-45, 3.4028235e38, 0.1, -0.0], np.float32), name="f")
        t.constant(np.array([1e-300, np.pi], np.float64), name="d")
        t.constant(np.array([-(2**63), 2**63 - 1], np.int64), name="i")
        t.constant([b"\x00\xff\n\"'\\ok", "ünï".encode()], name="s")
        t.constant(np.nan, name="nan")
    gd = g.as_graph_def()
    data = gd.SerializeToString()
    ours = text.to_text(data)
    assert text.parse(ours) == data
    back = text_format.Parse(ours, type(gd)())
    for a, b in zip(back.node, gd.node):
        np.testing.assert_array_equal(t.make_ndarray(a.attr["value"].tensor), t.make_ndarray(b.attr["value"].tensor))


def test_meta_graph_and_saved_model_round_trip():
    from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2
    with open(gm.tf1_meta_graph(), "rb") as f:
        meta = f.read()
    ours = text.to_text(meta, text.META_GRAPH_DEF)
    assert text.parse(ours, text.META_GRAPH_DEF) == meta
    mg = meta_graph_pb2.MetaGraphDef()
    mg.ParseFromString(meta)
    assert text_format.Parse(ours, meta_graph_pb2.MetaGraphDef()) == mg
    with open(os.path.join(gm.saved_model(), "saved_model.pb"), "rb") as f:
        sm_bytes = f.read()
    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString(sm_bytes)
    ours = text.to_text(sm_bytes, text.SAVED_MODEL)
    assert text.parse(ours, text.SAVED_MODEL) == sm_bytes
    # protobuf expands google.protobuf.Any fields into [type.googleapis.com/...] blocks; we read those too
    theirs = text_format.MessageToString(sm)
    parsed = saved_model_pb2.SavedModel()
    parsed.ParseFromString(text.parse(theirs, text.SAVED_MODEL))
    assert parsed == sm


def test_cli_to_text_from_text_and_load(tmp_path):
    data, inputs, outputs = gm.tf1_control_flow()
    pb = tmp_path / "g.pb"
    pb.write_bytes(data)
    assert main(["graph", "to-text", str(pb), str(tmp_path / "g.pbtxt")]) == 0
    assert main(["graph", "from-text", str(tmp_path / "g.pbtxt"), str(tmp_path / "back.pb")]) == 0
    assert (tmp_path / "back.pb").read_bytes() == data
    g = tg.load(tmp_path / "g.pbtxt")
    assert g.to_bytes() == data
    g.apply("strip_unused_nodes", inputs=inputs, outputs=outputs).save(tmp_path / "small.pbtxt")
    small = text_format.Parse((tmp_path / "small.pbtxt").read_text(), type(gm.graph_def(data))())
    assert "unused_branch" not in {n.name for n in small.node}


def test_text_errors_name_line_and_offset():
    with pytest.raises(GraphError, match=r"line 2 column 3: tensorflow.NodeDef has no field 'nmae'") as e:
        text.parse('node {\n  nmae: "x"\n}\n')
    assert e.value.offset == 9
    with pytest.raises(GraphError, match="unterminated string"):
        text.parse('node { name: "x }')
    with pytest.raises(GraphError, match="unexpected end"):
        text.parse('node { name: "x"')
    with pytest.raises(GraphError, match="expected an integer"):
        text.parse('versions { producer: abc }')
