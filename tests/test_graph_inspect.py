"""`tfforge inspect` against what TensorFlow's protobuf objects say about the same files."""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
import pytest

import graph_models as gm
from tfforge.cli.main import main
from tfforge.graph import inspect as gi

pytestmark = pytest.mark.tensorflow


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def test_frozen_graph_report(tmp_path):
    t = gm.tf()
    data, inp, out = gm.mobilenet()
    path = _write(tmp_path, "mobilenet.pb", data)
    r = gi.inspect(path)
    gd = gm.graph_def(data)
    assert r["kind"] == "graphdef" and r["node_count"] == len(gd.node)
    assert r["ops"] == dict(Counter(n.op for n in gd.node))
    assert r["inputs"] == [{"name": inp, "dtype": "float32", "shape": [1, 64, 64, 3]}]
    assert [o["name"] for o in r["outputs"]] == [out]
    consts = [t.make_ndarray(n.attr["value"].tensor) for n in gd.node if n.op == "Const"]
    assert r["parameters"]["count"] == sum(c.size for c in consts)
    assert r["parameters"]["const_nodes"] == len(consts)
    assert r["custom_ops"] == [] and r["tfforge_ops"] == []
    assert any(f"--inputs {inp} --outputs {out}" in c for c in r["next_commands"])


def test_saved_model_report_matches_saved_model_cli_data():
    from tensorflow.core.protobuf import saved_model_pb2
    path = gm.saved_model()
    r = gi.inspect(path)
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    mg = sm.meta_graphs[0]
    assert r["kind"] == "saved_model" and r["tags"] == list(mg.meta_info_def.tags)
    assert sorted(r["signatures"]) == sorted(mg.signature_def)
    sig = mg.signature_def["serving_default"]
    ours = r["signatures"]["serving_default"]
    assert ours["method"] == sig.method_name
    for key, info in sig.inputs.items():
        assert ours["inputs"][key]["name"] == info.name
        assert ours["inputs"][key]["shape"] == [d.size for d in info.tensor_shape.dim]
    assert set(ours["outputs"]) == set(sig.outputs)
    assert sorted(v["name"] for v in r["variables"]) == ["b", "w"]
    assert {f["name"] for f in r["functions"]} == {f.signature.name for f in mg.graph_def.library.function}
    assert any("--signature serving_default" in c for c in r["next_commands"])


def test_meta_graph_and_text_and_custom_ops(tmp_path):
    t = gm.tf()
    r = gi.inspect(gm.tf1_meta_graph())
    assert r["kind"] == "meta_graph" and [i["name"] for i in r["inputs"]] == ["x"]
    assert any(v["name"] == "w" and v["shape"] == [3, 2] for v in r["variables"])
    gd = gm.graph_def(gm.tf1_control_flow()[0])
    gd.node.add(name="mystery", op="MyCustomOp", input=["x"])
    gd.node.add(name="fused", op="TfforgeLayerNorm", input=["x"], device="/device:GPU:0")
    text = _write(tmp_path, "g.pbtxt", str(gd).encode())
    r = gi.inspect(text)
    assert r["kind"] == "graphdef_text"
    assert r["custom_ops"] == ["MyCustomOp"] and r["tfforge_ops"] == ["TfforgeLayerNorm"]
    assert r["devices"] == ["/device:GPU:0"]
    del t


def test_cli_json(tmp_path, capsys):
    data, _, _ = gm.tf2_function_graph()
    path = _write(tmp_path, "f.pb", data)
    assert main(["inspect", path, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert len(r["functions"]) == 3 and all(f["called"] for f in r["functions"])
    assert main(["inspect", path]) == 0
    assert "library functions (3, 3 called" in capsys.readouterr().out


def test_other_kinds_plug_in(tmp_path):
    p = _write(tmp_path, "weights.npz", b"")
    np.savez(p, a=np.zeros(3))
    gi.register_kind("npz_test", lambda path: path.endswith(".npz"), lambda path, **o: {"arrays": 1},
                     lambda r: f"npz with {r['arrays']} arrays")
    try:
        r = gi.inspect(p)
        assert r == {"arrays": 1, "path": p, "kind": "npz_test"}
        assert gi.render(r) == "npz with 1 arrays"
    finally:
        gi._KINDS.pop("npz_test")
