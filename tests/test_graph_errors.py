"""Bad input gets a tfforge error naming the file, node and byte offset; never a crash or a partial file."""

from __future__ import annotations

import os

import pytest

import graph_models as gm
import tfforge.graph as tg
from tfforge.errors import GraphError, WireFormatError

pytestmark = pytest.mark.tensorflow


def _graph_bytes():
    return gm.tf1_control_flow()[0]


def test_truncated_file_names_path_and_offset(tmp_path):
    data = _graph_bytes()
    path = tmp_path / "cut.pb"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WireFormatError) as e:
        tg.load(path)
    assert e.value.path == str(path) and e.value.offset is not None and 0 <= e.value.offset <= len(data) // 2
    assert "cut.pb" in str(e.value) and "byte offset" in str(e.value)


def test_every_truncation_is_an_error_or_a_prefix():
    data = _graph_bytes()
    for cut in range(0, len(data), 7):
        try:
            g = tg.Graph.from_bytes(data[:cut])
        except WireFormatError as e:
            assert e.offset is not None
        else:
            assert g.to_bytes() == data[:cut]  # cut at a node boundary: a valid, shorter graph


def test_wrong_field_type_names_the_node():
    gd = gm.graph_def(_graph_bytes())
    node = gd.node[3].SerializeToString()
    # NodeDef.op (field 2) as a varint instead of a string
    bad_node = node + b"\x10\x05"
    data = b"\x0a" + bytes([len(bad_node)]) + bad_node if len(bad_node) < 128 else None
    assert data is not None
    with pytest.raises(WireFormatError, match="NodeDef.op has wire type varint") as e:
        tg.Graph.from_bytes(data)
    assert e.value.node == gd.node[3].name and e.value.offset == 2 + len(node)  # the tag of the bad field


def test_corrupt_tensor_attr_is_reported_on_access():
    t = gm.tf()
    g = t.Graph()
    with g.as_default():
        t.constant([1.0, 2.0], name="c")
    gd = g.as_graph_def()
    gd.node[0].attr["value"].tensor.tensor_content = b"\x00" * 8
    ok = gd.SerializeToString()
    i = ok.index(b"\x00" * 8)
    corrupt = ok[: i - 1] + b"\x7f" + ok[i:]  # tensor_content claims more bytes than its message holds
    graph = tg.Graph.from_bytes(corrupt)
    with pytest.raises(WireFormatError):
        graph.node("c").attr["value"].numpy()


def test_missing_input_names_the_consumer():
    gd = gm.graph_def(_graph_bytes())
    gd.node[-1].input.append("ghost")
    g = tg.Graph.from_bytes(gd.SerializeToString())
    with pytest.raises(GraphError, match="input 'ghost' names a node that is not in the graph") as e:
        g.apply("strip_unused_nodes", outputs=[gd.node[-1].name])
    assert e.value.node == gd.node[-1].name
    with pytest.raises(GraphError, match="ghost"):
        g.execution_order()


def test_cycle_names_a_node():
    t = gm.tf()
    gd = t.compat.v1.GraphDef()
    gd.node.add(name="a", op="Identity", input=["c"])
    gd.node.add(name="b", op="Identity", input=["a"])
    gd.node.add(name="c", op="Identity", input=["b"])
    gd.node.add(name="d", op="Identity", input=["c"])
    g = tg.Graph.from_bytes(gd.SerializeToString())
    with pytest.raises(GraphError, match="cycle") as e:
        g.apply("sort_by_execution_order")
    assert e.value.node in ("a", "b", "c")


def test_failed_write_leaves_no_file(tmp_path):
    g = tg.Graph.from_bytes(_graph_bytes())
    target = tmp_path / "missing_dir" / "out.pb"
    with pytest.raises(GraphError, match="cannot create output file"):
        g.save(target)
    assert not target.exists()
    ok = tmp_path / "out.pb"
    g.save(ok)
    assert sorted(os.listdir(tmp_path)) == ["out.pb"]


def test_not_a_graph_file(tmp_path):
    p = tmp_path / "notes.bin"
    p.write_bytes(b"hello")
    with pytest.raises(GraphError, match="cannot tell what kind"):
        tg.load(p)
    with pytest.raises(GraphError, match="no such file"):
        tg.load(tmp_path / "nope.pb")
