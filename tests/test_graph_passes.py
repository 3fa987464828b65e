"""Native passes against TensorFlow: outputs import with import_graph_def and compute the same values;
strip_unused_nodes keeps exactly what graph_util.extract_sub_graph keeps."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import graph_models as gm
import tfforge.graph as tg
from tfforge.errors import GraphError, TransformError

pytestmark = pytest.mark.tensorflow

RNG = np.random.default_rng(1)


def _feeds(name):
    if name == "mobilenet":
        return {"input": RNG.standard_normal((1, 64, 64, 3)).astype(np.float32)}
    if name == "resnet50":
        return {"input": RNG.standard_normal((1, 32, 32, 3)).astype(np.float32)}
    if name == "tf2_function_graph":
        return {"x": np.array([0.1, 0.2, -1.0], np.float32)}
    return {"x": RNG.standard_normal((2, 4)).astype(np.float32)}


def _model(name):
    data, inputs, outputs = getattr(gm, name)()
    return data, [inputs] if isinstance(inputs, str) else inputs, [outputs] if isinstance(outputs, str) else outputs


MODELS = ["mobilenet", "resnet50", "tf1_control_flow", "tf2_function_graph"]


@pytest.mark.parametrize("name", MODELS)
def test_strip_unused_nodes_keeps_what_extract_sub_graph_keeps(name):
    t = gm.tf()
    data, _, outputs = _model(name)
    outputs = outputs + (["other_out"] if name == "tf1_control_flow" else [])
    ours = tg.Graph.from_bytes(data).apply("strip_unused_nodes", outputs=outputs)
    theirs = t.compat.v1.graph_util.extract_sub_graph(gm.graph_def(data), outputs)
    assert [n.name for n in ours.nodes] == [n.name for n in theirs.node]
    assert [n for n in gm.graph_def(ours.to_bytes()).node] == list(theirs.node)


def test_strip_unused_nodes_drops_unreachable_nodes_and_functions():
    data, inputs, outputs = _model("tf1_control_flow")
    g = tg.Graph.from_bytes(data)
    s = g.apply("strip_unused_nodes", inputs=inputs, outputs=outputs)
    names = {n.name for n in s.nodes}
    assert "unused_branch" not in names and "other_out" not in names and "setup" in names  # control dep kept
    # library functions are kept exactly when something kept calls them (transitively)
    data2, inputs2, outputs2 = _model("tf2_function_graph")
    g2 = tg.Graph.from_bytes(data2)
    assert sorted(g2.apply("strip_unused_nodes", inputs=inputs2, outputs=outputs2).library_functions) == sorted(
        g2.library_functions)
    x_only = g2.apply("strip_unused_nodes", outputs=inputs2)
    assert x_only.library_functions == [] and [n.name for n in x_only.nodes] == inputs2


def test_strip_unused_nodes_turns_inputs_into_placeholders():
    data, _, outputs = _model("tf1_control_flow")
    g = tg.Graph.from_bytes(data)
    s = g.apply('strip_unused_nodes(type=float, shape="2,4")', inputs=["h2"], outputs=outputs)
    node = s.node("h2")
    assert node.op == "Placeholder" and node.inputs == [] and node.attr["shape"] == (2, 4)
    assert "x" not in s and "w" not in s
    feed = RNG.standard_normal((2, 4)).astype(np.float32)
    full = gm.run(data, {"h2": feed, "x": np.zeros((2, 4), np.float32)}, outputs)
    np.testing.assert_allclose(gm.run(s.to_bytes(), {"h2": feed}, outputs)[0], full[0], rtol=1e-6)


PASSES = [
    "strip_unused_nodes",
    "remove_device",
    "set_device(device=/device:CPU:0)",
    "remove_nodes(op=Identity, op=CheckNumerics)",
    "rename_op(old_op_name=Identity, new_op_name=Snapshot)",
    "rename_attribute(old_attribute_name=_class, new_attribute_name=_colocate)",
    "remove_attribute(attribute_name=_class)",
    "remove_control_dependencies",
    "merge_duplicate_nodes",
    "obfuscate_names",
    "sort_by_execution_order",
    "strip_unused_nodes remove_device remove_nodes(op=Identity) merge_duplicate_nodes sort_by_execution_order",
]


@pytest.mark.parametrize("name", MODELS)
def test_every_pass_computes_the_same_outputs(name):
    data, inputs, outputs = _model(name)
    feeds = _feeds(name)
    expect = gm.run(data, feeds, outputs)
    g = tg.Graph.from_bytes(data)
    for transforms in PASSES:
        if name == "tf1_control_flow" and transforms == "remove_control_dependencies":
            continue  # TF1 loops put constants in the loop frame through control inputs; see the next test
        out = g.apply(transforms, inputs=inputs, outputs=outputs)
        got = gm.run(out.to_bytes(), feeds, outputs)
        for a, b in zip(got, expect):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=f"{name}: {transforms}")


@pytest.mark.parametrize("transforms", ["remove_control_dependencies", "remove_device", "strip_unused_nodes",
                                        "sort_by_execution_order"])
def test_same_nodes_as_tensorflows_transform_graph(transforms):
    from tensorflow.python.util._pywrap_transform_graph import TransformGraphWithStringInputs
    data, inputs, outputs = _model("tf1_control_flow")
    ours = gm.graph_def(tg.Graph.from_bytes(data).apply(transforms, inputs=inputs, outputs=outputs).to_bytes())
    theirs = gm.graph_def(TransformGraphWithStringInputs(data, ",".join(inputs).encode(), ",".join(outputs).encode(),
                                                         transforms.encode()))
    mine = {n.name: n for n in ours.node}
    assert sorted(mine) == sorted(n.name for n in theirs.node)
    for n in theirs.node:
        assert list(mine[n.name].input) == list(n.input) and mine[n.name].device == n.device


def test_renames_and_prefix_follow_inputs():
    data, inputs, outputs = _model("tf1_control_flow")
    feeds = _feeds("tf1_control_flow")
    expect = gm.run(data, feeds, outputs)[0]
    g = tg.Graph.from_bytes(data)
    renamed = g.apply("rename_node(old_node_name=out, new_node_name=result)")
    np.testing.assert_allclose(gm.run(renamed.to_bytes(), feeds, ["result"])[0], expect, rtol=1e-6)
    prefixed = g.apply("add_prefix(prefix=net/)")
    assert all(n.name.startswith("net/") for n in prefixed.nodes)
    np.testing.assert_allclose(gm.run(prefixed.to_bytes(), {"net/x": feeds["x"]}, ["net/out"])[0], expect, rtol=1e-6)


def test_remove_nodes_keeps_outputs_and_rewires():
    data, inputs, outputs = _model("tf1_control_flow")
    s = tg.Graph.from_bytes(data).apply("remove_nodes(op=Identity, op=CheckNumerics)", inputs=inputs, outputs=outputs)
    ops = [n.op for n in s.nodes]
    assert "CheckNumerics" not in ops and s.node("out").op == "Identity"
    assert "h_id" not in s and "h_check" not in s


def test_obfuscate_keeps_inputs_and_outputs():
    data, inputs, outputs = _model("mobilenet")
    s = tg.Graph.from_bytes(data).apply("obfuscate_names", inputs=inputs, outputs=outputs)
    names = [n.name for n in s.nodes]
    assert inputs[0] in names and outputs[0] in names and max(len(n) for n in names) <= max(len(inputs[0]), 8)


def test_sort_puts_inputs_first():
    data, inputs, outputs = _model("resnet50")
    g = tg.Graph.from_bytes(data)
    reversed_bytes = g.apply("sort_by_execution_order")
    pos = {n.name: i for i, n in enumerate(reversed_bytes.nodes)}
    for n in reversed_bytes.nodes:
        for i in n.inputs:
            assert pos[i.lstrip("^").split(":")[0]] < pos[n.name]


def test_tensorflow_transforms_run_through_tensorflow():
    data, inputs, outputs = _model("tf1_control_flow")
    feeds = _feeds("tf1_control_flow")
    expect = gm.run(data, feeds, outputs)[0]
    g = tg.Graph.from_bytes(data)
    out = g.apply("strip_unused_nodes fold_constants(ignore_errors=true) remove_device", inputs=inputs, outputs=outputs)
    np.testing.assert_allclose(gm.run(out.to_bytes(), feeds, outputs)[0], expect, rtol=1e-5)
    with pytest.raises(TransformError, match="no_such_pass"):
        g.apply("no_such_pass", inputs=inputs, outputs=outputs)


def test_clear_message_without_tensorflow():
    code = (
        "import sys; sys.modules['tensorflow'] = None\n"
        "import graph_models as gm, tfforge.graph as tg\n"
        "from tfforge.errors import TensorFlowNotInstalled\n"
        "g = tg.Graph.from_bytes(open(sys.argv[1], 'rb').read())\n"
        "print(len(g.apply('remove_device')))\n"
        "try:\n    g.apply('fold_constants', outputs=['out'])\n"
        "except TensorFlowNotInstalled as e:\n    print('ERR', e)\n")
    path = gm.tmp_path("cf.pb")
    with open(path, "wb") as f:
        f.write(_model("tf1_control_flow")[0])
    res = subprocess.run([sys.executable, "-c", code, path], capture_output=True, text=True,
                         cwd=os.path.dirname(__file__))
    assert res.returncode == 0, res.stderr
    assert "ERR transform 'fold_constants' is not native" in res.stdout and "pip install" in res.stdout


def test_transform_syntax_errors():
    g = tg.Graph.from_bytes(_model("tf1_control_flow")[0])
    with pytest.raises(TransformError, match="character"):
        g.apply("remove_nodes(op=Identity", outputs=["out"])
    with pytest.raises(TransformError, match="needs --outputs"):
        g.apply("strip_unused_nodes")
    with pytest.raises(GraphError, match="missing_out"):
        g.apply("strip_unused_nodes", outputs=["missing_out"])


def test_cli_transform(tmp_path):
    data, inputs, outputs = _model("mobilenet")
    src = tmp_path / "in.pb"
    src.write_bytes(data)
    dst = tmp_path / "out.pb"
    from tfforge.cli.main import main
    rc = main(["graph", "transform", str(src), str(dst), "--inputs", ",".join(inputs), "--outputs", ",".join(outputs),
               "--transforms", "strip_unused_nodes remove_device remove_nodes(op=Identity) sort_by_execution_order"])
    assert rc == 0
    feeds = _feeds("mobilenet")
    np.testing.assert_allclose(gm.run(dst.read_bytes(), feeds, outputs)[0], gm.run(data, feeds, outputs)[0], rtol=1e-5)
