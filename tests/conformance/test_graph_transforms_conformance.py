"""transform_graph's own test cases, run against tfforge's native passes.

A port of tensorflow/tools/graph_transforms/*_test.cc for every pass tfforge implements natively: each
test names its upstream file and TEST method, builds the upstream input graph (here from text format,
without TensorFlow) and asserts the upstream expectations on tfforge's output. Where TensorFlow is
installed, its own transform library (`_pywrap_transform_graph`, the code behind transform_graph) runs
on the same bytes as a second oracle and must meet the same expectations.

Deliberate differences from TensorFlow are marked DIFFERENCE below and documented in docs/graph.md, each
with the argument that gives TensorFlow's behaviour.
"""

from __future__ import annotations

import numpy as np
import pytest

import tfforge.graph as tg
from tfforge import _native
from tfforge.errors import GraphError, TransformError
from tfforge.graph import text
from tfforge.graph.graph import simplify_attr

try:  # the library behind TensorFlow's transform_graph tool
    from tensorflow.python.util._pywrap_transform_graph import TransformGraphWithStringInputs
except ImportError:
    TransformGraphWithStringInputs = None


# --- building graphs ---------------------------------------------------------------------------------

def node(name, op, inputs=(), device="", **attrs):
    """A NodeDef in text format; attrs are text-format AttrValue bodies, e.g. foo='i: 23'."""
    body = [f'name: "{name}"', f'op: "{op}"'] + [f'input: "{i}"' for i in inputs]
    if device:
        body.append(f'device: "{device}"')
    body += [f'attr {{ key: "{k}" value {{ {v} }} }}' for k, v in attrs.items()]
    return "node { " + " ".join(body) + " }"


def const(name, values, dtype="DT_FLOAT", shape=None):
    shape = [len(values)] if shape is None else shape
    field = {"DT_FLOAT": "float_val", "DT_INT32": "int_val", "DT_QUINT8": "int_val"}[dtype]
    dims = " ".join(f"dim {{ size: {d} }}" for d in shape)
    vals = " ".join(f"{field}: {v}" for v in values)
    return node(name, "Const", dtype=f"type: {dtype}",
                value=f"tensor {{ dtype: {dtype} tensor_shape {{ {dims} }} {vals} }}")


def graph_bytes(*nodes) -> bytes:
    return text.parse("\n".join(nodes), text.GRAPH_DEF)


def ours(data, transforms, inputs=(), outputs=()):
    """tfforge's result as {name: Node}, plus the node order."""
    g = tg.Graph.from_bytes(data).apply(transforms, inputs=list(inputs), outputs=list(outputs))
    return {n.name: n for n in g.nodes}, [n.name for n in g.nodes]


class _TFNode:
    def __init__(self, n):
        self.name, self.op, self.device, self.inputs = n.name, n.op, n.device, list(n.input)
        self._attr = n.attr

    @property
    def attr(self):
        return {k: simplify_attr(_native.decode_message("tensorflow.AttrValue", v.SerializeToString()))
                for k, v in self._attr.items()}


def theirs(data, transforms, inputs=(), outputs=()):
    """TensorFlow's result in the same shape as ours(), or None without TensorFlow."""
    if TransformGraphWithStringInputs is None:
        return None
    from tensorflow.core.framework import graph_pb2
    out = graph_pb2.GraphDef()
    out.ParseFromString(TransformGraphWithStringInputs(data, ",".join(inputs).encode(), ",".join(outputs).encode(),
                                                       transforms.encode()))
    return {n.name: _TFNode(n) for n in out.node}, [n.name for n in out.node]


def both(data, transforms, inputs=(), outputs=()):
    """[ours, theirs] (theirs left out without TensorFlow): every expectation is checked on each."""
    results = [ours(data, transforms, inputs, outputs)]
    tf_result = theirs(data, transforms, inputs, outputs)
    if tf_result is not None:
        results.append(tf_result)
    return results


def tf_fails(data, transforms, inputs=(), outputs=()) -> bool:
    try:
        theirs(data, transforms, inputs, outputs)
    except Exception:  # TensorFlow reports a failed transform as RuntimeError/ValueError
        return True
    return False


def shape_of(n):
    return n.attr["shape"]


# --- strip_unused_nodes_test.cc ---------------------------------------------------------------------

def _add_graph():
    return graph_bytes(node("add_node", "Add", ["a_node", "b_node"]), node("a_node", "Const"),
                       node("b_node", "Const"), node("c_node", "Const"))


def test_strip_unused_nodes_simple_add():
    """strip_unused_nodes_test.cc, StripUnusedNodesTest.TestSimpleAdd"""
    for nodes, _ in both(_add_graph(), "strip_unused_nodes", [], ["add_node"]):
        assert set(nodes) == {"add_node", "a_node", "b_node"}


def _common_ancestor_graph():
    return graph_bytes(
        node("add_node1", "Add", ["add_node2", "add_node3"]), node("add_node2", "Add", ["const_node1", "const_node2"]),
        node("add_node3", "Add", ["const_node1", "const_node3"]), node("const_node1", "Const"),
        node("const_node2", "Const"), node("const_node3", "Const"), node("dangling_input", "Const"),
        node("add_node4", "Add", ["add_node2", "add_node3"]))


def test_strip_unused_nodes_common_ancestor():
    """strip_unused_nodes_test.cc, StripUnusedNodesTest.TestCommonAncestor: a listed input that no
    output needs is kept."""
    for nodes, _ in both(_common_ancestor_graph(), "strip_unused_nodes", ["dangling_input"], ["add_node1"]):
        assert set(nodes) == {"add_node1", "add_node2", "add_node3", "const_node1", "const_node2", "const_node3",
                              "dangling_input"}


def _placeholder_graph():
    return graph_bytes(node("add_node", "Add", ["mul_node", "a_node"]), node("mul_node", "Mul", ["b_node", "c_node"]),
                       node("a_node", "Const"), node("b_node", "Const"), node("c_node", "Const"))


def test_strip_unused_nodes_simple_placeholder():
    """strip_unused_nodes_test.cc, StripUnusedNodesTest.TestSimplePlaceholder: float, scalar shape."""
    for nodes, _ in both(_placeholder_graph(), "strip_unused_nodes", ["mul_node"], ["add_node"]):
        assert set(nodes) == {"add_node", "mul_node", "a_node"}
        mul = nodes["mul_node"]
        assert mul.op == "Placeholder" and mul.inputs == []
        assert mul.attr["dtype"] == "DT_FLOAT" and shape_of(mul) == ()


def test_strip_unused_nodes_placeholder_default_args():
    """strip_unused_nodes_test.cc, StripUnusedNodesTest.TestPlaceholderDefaultArgs"""
    for nodes, _ in both(_placeholder_graph(), 'strip_unused_nodes(type=int32, shape="1,2,3")', ["mul_node"],
                         ["add_node"]):
        assert set(nodes) == {"add_node", "mul_node", "a_node"}
        assert nodes["mul_node"].op == "Placeholder" and nodes["mul_node"].attr["dtype"] == "DT_INT32"
        assert shape_of(nodes["mul_node"]) == (1, 2, 3)


def test_strip_unused_nodes_placeholder_named_args():
    """strip_unused_nodes_test.cc, StripUnusedNodesTest.TestPlaceholderNamedArgs"""
    transforms = ('strip_unused_nodes(name=a_node, type_for_name=int64, shape_for_name="1,2", '
                  'name=mul_node, type_for_name=quint8, shape_for_name="1, 2, 3")')
    for nodes, _ in both(_placeholder_graph(), transforms, ["mul_node", "a_node"], ["add_node"]):
        assert set(nodes) == {"add_node", "mul_node", "a_node"}
        assert nodes["mul_node"].attr["dtype"] == "DT_QUINT8" and shape_of(nodes["mul_node"]) == (1, 2, 3)
        assert nodes["a_node"].op == "Placeholder" and nodes["a_node"].attr["dtype"] == "DT_INT64"
        assert shape_of(nodes["a_node"]) == (1, 2)


def test_strip_unused_nodes_argument_errors_match_tensorflow():
    """strip_unused_nodes.cc's TypeForPlaceholder / ShapeForPlaceholder checks (no upstream TEST)."""
    data = _placeholder_graph()
    for transforms, message in [("strip_unused_nodes(type=int32, type=float)", "no more than one default 'type'"),
                                ("strip_unused_nodes(type=floot)", "Couldn't understand type argument 'floot'"),
                                ('strip_unused_nodes(shape="1,x")', "Could parse as shape"),
                                ('strip_unused_nodes(shape="")', "Specified shape is empty"),
                                ("strip_unused_nodes(name=mul_node)", "'type_for_name' arg for every 'name'"),
                                ("strip_unused_nodes(name=mul_node, type_for_name=float)",
                                 "'shape_for_name' arg for every 'name'")]:
        with pytest.raises(TransformError, match=message):
            ours(data, transforms, ["mul_node"], ["add_node"])
        if TransformGraphWithStringInputs is not None:
            assert tf_fails(data, transforms, ["mul_node"], ["add_node"]), transforms


def test_strip_unused_nodes_keeps_a_placeholder_input_as_it_is():
    """strip_unused_nodes.cc: an input that is already a Placeholder is copied unchanged, type= and
    shape= notwithstanding."""
    data = graph_bytes(node("x", "Placeholder", dtype="type: DT_INT32", shape="shape { dim { size: 7 } }"),
                       node("y", "Neg", ["x"]), node("unused", "Const"))
    for nodes, _ in both(data, 'strip_unused_nodes(type=float, shape="2")', ["x"], ["y"]):
        assert set(nodes) == {"x", "y"} and nodes["x"].attr["dtype"] == "DT_INT32" and shape_of(nodes["x"]) == (7,)


def test_strip_unused_nodes_auto_type_and_shape_are_tfforge_options():
    """DIFFERENCE (an addition): type=auto / shape=auto take the cut node's own dtype and shape, values
    TensorFlow rejects, so no TensorFlow command line changes meaning."""
    data = graph_bytes(node("add_node", "Add", ["mul_node", "a_node"]),
                       node("mul_node", "Mul", ["b_node", "c_node"], T="type: DT_INT32",
                            _output_shapes="list { shape { dim { size: 2 } dim { size: -1 } } }"),
                       node("a_node", "Const"), node("b_node", "Const"), node("c_node", "Const"))
    nodes, _ = ours(data, "strip_unused_nodes(type=auto, shape=auto)", ["mul_node"], ["add_node"])
    assert nodes["mul_node"].attr["dtype"] == "DT_INT32" and shape_of(nodes["mul_node"]) == (2, -1)
    if TransformGraphWithStringInputs is not None:
        assert tf_fails(data, "strip_unused_nodes(type=auto)", ["mul_node"], ["add_node"])


def test_strip_unused_nodes_library_pruning_is_one_option_away():
    """DIFFERENCE: tfforge drops library functions no kept node calls; keep_library=true keeps the whole
    library as TensorFlow does."""
    data = graph_bytes(node("x", "Placeholder", dtype="type: DT_FLOAT"), node("y", "Neg", ["x"]),
                       'library { function { signature { name: "unused_fn" } } }')
    g = tg.Graph.from_bytes(data)
    assert g.apply("strip_unused_nodes", inputs=["x"], outputs=["y"]).library_functions == []
    kept = g.apply("strip_unused_nodes(keep_library=true)", inputs=["x"], outputs=["y"])
    assert kept.library_functions == ["unused_fn"]


# --- remove_nodes_test.cc ---------------------------------------------------------------------------

def test_remove_nodes():
    """remove_nodes_test.cc, RemoveNodesTest.TestRemoveNodes"""
    data = graph_bytes(
        node("add_node1", "Add", ["add_node2", "add_node3"]),
        node("add_node2", "Add", ["identity_node1", "identity_node2"]),
        node("add_node3", "Add", ["identity_node1", "const_node3"]),
        node("identity_node1", "Identity", ["const_node1"]), node("identity_node2", "Identity", ["const_node2"]),
        node("identity_node3", "Identity", ["const_node3"]), node("const_node1", "Const"),
        node("const_node2", "Const"), node("const_node3", "Const"), node("add_node4", "Add", ["add_node2", "add_node3"]))
    for nodes, _ in both(data, "remove_nodes(op=Identity)", [], ["add_node1"]):
        assert nodes["add_node1"].inputs == ["add_node2", "add_node3"]
        assert nodes["add_node2"].inputs == ["const_node1", "const_node2"]
        assert nodes["add_node3"].inputs == ["const_node1", "const_node3"]
        assert nodes["add_node4"].inputs == ["add_node2", "add_node3"]
        assert not {"identity_node1", "identity_node2", "identity_node3"} & set(nodes)
        assert all(nodes[c].op == "Const" for c in ("const_node1", "const_node2", "const_node3"))


def test_remove_output_nodes():
    """remove_nodes_test.cc, RemoveNodesTest.TestRemoveOutputNodes"""
    data = graph_bytes(node("const_node1", "Const"), node("const_node2", "Const"),
                       node("add_node", "Add", ["const_node1", "const_node2"]),
                       node("identity_node", "Identity", ["add_node"]))
    for nodes, _ in both(data, "remove_nodes(op=Identity)", [], ["identity_node"]):
        assert nodes["add_node"].inputs == ["const_node1", "const_node2"]
        assert nodes["identity_node"].inputs == ["add_node"]


def test_remove_chained_nodes():
    """remove_nodes_test.cc, RemoveNodesTest.TestRemoveChainedNodes"""
    data = graph_bytes(node("const_node1", "Const"), node("identity_node1", "Identity", ["const_node1"]),
                       node("identity_node2", "Identity", ["identity_node1"]),
                       node("identity_node3", "Identity", ["identity_node2"]), node("const_node2", "Const"),
                       node("add_node", "Add", ["identity_node3", "const_node2"]))
    for nodes, _ in both(data, "remove_nodes(op=Identity)", [], ["identity_node"]):
        assert nodes["add_node"].inputs == ["const_node1", "const_node2"]
        assert not {"identity_node1", "identity_node2", "identity_node3"} & set(nodes)


def test_remove_multiple_inputs():
    """remove_nodes_test.cc, RemoveNodesTest.TestRemoveMultipleInputs: max_inputs"""
    data = graph_bytes(node("const_node1", "Const"), node("const_node2", "Const"), node("const_node3", "Const"),
                       node("const_node4", "Const"),
                       node("fake_quant_node", "FakeQuantWithMinMaxVars", ["const_node1", "const_node2", "const_node3"]),
                       node("add_node", "Add", ["fake_quant_node", "const_node4"]))
    for nodes, _ in both(data, "remove_nodes(op=FakeQuantWithMinMaxVars, max_inputs=3)", [], ["add_node"]):
        assert "const_node1" in nodes and "const_node4" in nodes and "fake_quant_node" not in nodes
        assert nodes["add_node"].inputs == ["const_node1", "const_node4"]
    # without max_inputs only single-input nodes go
    for nodes, _ in both(data, "remove_nodes(op=FakeQuantWithMinMaxVars)", [], ["add_node"]):
        assert "fake_quant_node" in nodes


def test_remove_nodes_control_inputs_follow_the_removed_node():
    """remove_nodes.cc: `^removed` becomes `^its input`; control inputs do not count toward max_inputs
    and the removed node's own are dropped; duplicates are left as TensorFlow leaves them (no upstream
    TEST)."""
    data = graph_bytes(node("c", "Const"), node("dep", "NoOp"), node("id", "Identity", ["^dep", "c"]),
                       node("id2", "Identity", ["id"]), node("out", "Neg", ["id2", "^id", "^id2", "^c"]))
    for nodes, _ in both(data, "remove_nodes(op=Identity)", [], ["out"]):
        assert set(nodes) == {"c", "dep", "out"} and nodes["out"].inputs == ["c", "^c", "^c", "^c"]


def test_remove_nodes_leaves_the_other_inputs_of_a_removed_node():
    """DIFFERENCE: with max_inputs above 1, TensorFlow deletes a removed node's second and later input
    nodes along with it (a dangling graph when something else reads them); tfforge leaves them, and
    strip_unused_nodes drops them when nothing needs them."""
    data = graph_bytes(node("c", "Const"), node("c2", "Const"), node("add", "Add", ["c", "c2"]),
                       node("out", "Neg", ["add", "^add"]))
    nodes, _ = ours(data, "remove_nodes(op=Add, max_inputs=2)", [], ["out"])
    assert set(nodes) == {"c", "c2", "out"} and nodes["out"].inputs == ["c", "^c"]
    nodes, _ = ours(data, "remove_nodes(op=Add, max_inputs=2) strip_unused_nodes", [], ["out"])
    tf_result = theirs(data, "remove_nodes(op=Add, max_inputs=2)", [], ["out"])
    for result in [nodes] + ([tf_result[0]] if tf_result else []):
        assert set(result) == {"c", "out"} and result["out"].inputs == ["c", "^c"]


def test_remove_nodes_argument_errors_match_tensorflow():
    """remove_nodes.cc: at least one op=, max_inputs read by GetOneInt32Parameter (no upstream TEST)."""
    data = graph_bytes(node("c", "Const"), node("id", "Identity", ["c"]))
    for transforms, message in [("remove_nodes", "expects at least one 'op'"),
                                ("remove_nodes(op=Identity, max_inputs=two)", "Couldn't interpret the max_inputs"),
                                ("remove_nodes(op=Identity, max_inputs=1, max_inputs=2)", "Expected a single 'max_inputs'")]:
        with pytest.raises(TransformError, match=message):
            ours(data, transforms, [], ["id"])
        if TransformGraphWithStringInputs is not None:
            assert tf_fails(data, transforms, [], ["id"]), transforms


def test_remove_nodes_keeps_switch_pivots_unless_asked():
    """DIFFERENCE: an Identity fed by a Switch (a TF1 cond's pivot, which control edges hang on) is kept;
    keep_switch_pivots=false removes it as TensorFlow does."""
    data = graph_bytes(node("p", "Placeholder", dtype="type: DT_BOOL"), node("x", "Placeholder", dtype="type: DT_FLOAT"),
                       node("sw", "Switch", ["x", "p"], T="type: DT_FLOAT"),
                       node("pivot", "Identity", ["sw:1"], T="type: DT_FLOAT"),
                       node("c", "Const", ["^pivot"]), node("out", "Add", ["pivot", "c"]))
    nodes, _ = ours(data, "remove_nodes(op=Identity)", ["x", "p"], ["out"])
    assert "pivot" in nodes
    for nodes, _ in both(data, "remove_nodes(op=Identity, keep_switch_pivots=false)", ["x", "p"], ["out"]):
        assert "pivot" not in nodes and nodes["c"].inputs == ["^sw"] and nodes["out"].inputs == ["sw:1", "c"]


# --- remove_device_test.cc, set_device_test.cc -------------------------------------------------------

def _device_graph(mul_device):
    return graph_bytes(
        node("mul_node1", "Mul", ["add_node2", "add_node3"], device=mul_device),
        node("add_node2", "Add", ["const_node1", "const_node2"], device="/device:GPU:1" if mul_device.startswith("/")
             else "//device:GPU:1"),
        node("add_node3", "Add", ["const_node1", "const_node3"]), node("const_node1", "Const"),
        node("const_node2", "Const"), node("const_node3", "Const"), node("add_node4", "Add", ["add_node2", "add_node3"]))


def test_remove_device():
    """remove_device_test.cc, RemoveDeviceTest.TestRemoveDevice"""
    for nodes, _ in both(_device_graph("//cpu:0"), "remove_device", [], ["mul_node1"]):
        assert nodes["mul_node1"].device == "" and nodes["add_node2"].device == ""


def test_set_device():
    """set_device_test.cc, SetDeviceTest.TestSetDevice"""
    for nodes, _ in both(_device_graph("/device:CPU:0"), "set_device(device=\"/device:CPU:0\")", [], ["mul_node1"]):
        assert all(n.device == "/device:CPU:0" for n in nodes.values()) and len(nodes) == 7


def test_set_device_if_default():
    """set_device_test.cc, SetDeviceTest.TestSetDeviceIfDefault"""
    for nodes, _ in both(_device_graph("/device:CPU:0"), "set_device(device=\"/device:GPU:0\", if_default=true)", [],
                         ["mul_node1"]):
        assert nodes["mul_node1"].device == "/device:CPU:0" and nodes["add_node2"].device == "/device:GPU:1"
        for name in ("add_node3", "const_node1", "const_node2", "const_node3", "add_node4"):
            assert nodes[name].device == "/device:GPU:0"


def test_set_device_boolean_is_read_like_tensorflow():
    """transform_utils.cc GetOneBoolParameter: true/false/1/0 only ("True" is an error)."""
    data = _device_graph("/device:CPU:0")
    for nodes, _ in both(data, "set_device(device=\"/device:GPU:0\", if_default=1)", [], ["mul_node1"]):
        assert nodes["mul_node1"].device == "/device:CPU:0"
    with pytest.raises(TransformError, match="as a boolean:True"):
        ours(data, "set_device(device=\"/device:GPU:0\", if_default=True)", [], ["mul_node1"])
    if TransformGraphWithStringInputs is not None:
        assert tf_fails(data, "set_device(device=\"/device:GPU:0\", if_default=True)", [], ["mul_node1"])


# --- sort_by_execution_order_test.cc ----------------------------------------------------------------

def _order(data):
    return [{name: i for i, name in enumerate(order)} for _, order in both(data, "sort_by_execution_order", [], [])]


def test_sort_simple_add():
    """sort_by_execution_order_test.cc, SortByExecutionOrderTest.TestSimpleAdd"""
    for order in _order(graph_bytes(node("add_node", "Add", ["a_node", "b_node"]), node("b_node", "Const"),
                                    node("a_node", "Const"))):
        assert order["add_node"] == 2 and order["a_node"] < 2 and order["b_node"] < 2


def test_sort_simple_linear():
    """sort_by_execution_order_test.cc, SortByExecutionOrderTest.TestSimpleLinear"""
    data = graph_bytes(node("negative_node", "Negative", ["sqrt_node"]), node("relu_node", "Relu", ["const_node"]),
                       node("sqrt_node", "Sqrt", ["relu_node"]), node("const_node", "Const"))
    for order in _order(data):
        assert order == {"const_node": 0, "relu_node": 1, "sqrt_node": 2, "negative_node": 3}


def test_sort_simple_tree():
    """sort_by_execution_order_test.cc, SortByExecutionOrderTest.TestSimpleTree"""
    data = graph_bytes(node("add_node1", "Add", ["add_node2", "add_node3"]),
                       node("add_node2", "Add", ["const_node1", "const_node2"]),
                       node("add_node3", "Add", ["const_node3", "const_node4"]), node("const_node1", "Const"),
                       node("const_node2", "Const"), node("const_node3", "Const"), node("const_node4", "Const"))
    for order in _order(data):
        assert order["add_node1"] == 6 and order["add_node2"] < 6 and order["add_node3"] < 6
        assert all(order[f"const_node{i}"] < 5 for i in range(1, 5))


def test_sort_common_ancestor():
    """sort_by_execution_order_test.cc, SortByExecutionOrderTest.TestCommonAncestor"""
    for order in _order(graph_bytes(
            node("add_node1", "Add", ["add_node2", "add_node3"]),
            node("add_node2", "Add", ["const_node1", "const_node2"]),
            node("add_node3", "Add", ["const_node1", "const_node3"]), node("const_node1", "Const"),
            node("const_node2", "Const"), node("const_node3", "Const"))):
        assert order["add_node1"] == 5 and order["add_node2"] < 5 and order["add_node3"] < 5
        assert order["const_node2"] < 4 and order["const_node3"] < 4 and order["const_node1"] < 3


# --- rename_op_test.cc, rename_node_test.cc, rename_attribute_test.cc, remove_attribute_test.cc -------

def _attr_graph():
    return graph_bytes(
        node("mul_node1", "Mul", ["add_node2", "add_node3"], foo="i: 23", bar='s: "something"'),
        node("add_node2", "Add", ["const_node1", "const_node2"], foo="i: 46", bob="i: 23", bar='s: "something else"'),
        node("add_node3", "Add", ["const_node1", "const_node3"]), node("const_node1", "Const"),
        node("const_node2", "Const"), node("const_node3", "Const"), node("add_node4", "Add", ["add_node2", "add_node3"]))


def test_rename_op():
    """rename_op_test.cc, RenameOpTest.TestRenameOp"""
    for nodes, _ in both(_attr_graph(), "rename_op(old_op_name=Mul, new_op_name=Multiply)", [], ["mul_node1"]):
        assert nodes["mul_node1"].op == "Multiply"
        assert [nodes[n].op for n in ("add_node2", "add_node3", "add_node4")] == ["Add"] * 3
        assert all(nodes[f"const_node{i}"].op == "Const" for i in (1, 2, 3))
    with pytest.raises(TransformError, match="exactly one 'old_op_name'"):
        ours(_attr_graph(), "rename_op(old_op_name=Mul)", [], ["mul_node1"])


def test_rename_node():
    """rename_node_test.cc, RenameNodeTest.Rename"""
    data = graph_bytes(node("input", "Placeholder"), node("splitter", "Split"),
                       node("adder", "Add", ["splitter", "splitter:1"]))
    for nodes, _ in both(data, "rename_node(old_node_name=splitter, new_node_name=demux)", [], ["adder"]):
        assert "demux" in nodes and nodes["adder"].inputs == ["demux", "demux:1"]


def test_rename_node_fails_when_name_already_exists():
    """rename_node_test.cc, RenameNodeTest.FailWhenNameAlreadyExists"""
    data = graph_bytes(node("input", "Placeholder"), node("splitter", "Split"),
                       node("adder", "Add", ["splitter", "splitter:1"]))
    with pytest.raises(TransformError, match="already using adder"):
        ours(data, "rename_node(old_node_name=splitter, new_node_name=adder)", [], ["adder"])
    if TransformGraphWithStringInputs is not None:
        assert tf_fails(data, "rename_node(old_node_name=splitter, new_node_name=adder)", [], ["adder"])


def test_rename_attribute():
    """rename_attribute_test.cc, RenameAttributeTest.TestRenameAttribute"""
    for nodes, _ in both(_attr_graph(), "rename_attribute(op_name=\"*\", old_attribute_name=foo, new_attribute_name=baz)",
                         [], ["mul_node1"]):
        for name in ("mul_node1", "add_node2"):
            assert "foo" not in nodes[name].attr and "baz" in nodes[name].attr and "bar" in nodes[name].attr
        assert nodes["mul_node1"].attr["baz"] == 23 and "bob" in nodes["add_node2"].attr
    for nodes, _ in both(_attr_graph(), "rename_attribute(op_name=Mul, old_attribute_name=foo, new_attribute_name=baz)",
                         [], ["mul_node1"]):
        assert "foo" not in nodes["mul_node1"].attr and "baz" in nodes["mul_node1"].attr
        assert "foo" in nodes["add_node2"].attr and "baz" not in nodes["add_node2"].attr


def test_remove_attribute():
    """remove_attribute_test.cc, RemoveAttributeTest.TestRemoveAttribute"""
    for nodes, _ in both(_attr_graph(), "remove_attribute(op_name=\"*\", attribute_name=foo)", [], ["mul_node1"]):
        assert "foo" not in nodes["mul_node1"].attr and "bar" in nodes["mul_node1"].attr
        assert "foo" not in nodes["add_node2"].attr and {"bar", "bob"} <= set(nodes["add_node2"].attr)
    for nodes, _ in both(_attr_graph(), "remove_attribute(op_name=Mul, attribute_name=foo)", [], ["mul_node1"]):
        assert "foo" not in nodes["mul_node1"].attr and "bar" in nodes["mul_node1"].attr
        assert {"foo", "bar", "bob"} <= set(nodes["add_node2"].attr)
    with pytest.raises(TransformError, match="single op_name argument, but found 2"):
        ours(_attr_graph(), "remove_attribute(op_name=Mul, op_name=Add, attribute_name=foo)", [], ["mul_node1"])


# --- obfuscate_names_test.cc ------------------------------------------------------------------------

def test_obfuscate_simple_tree():
    """obfuscate_names_test.cc, ObfuscateNamesTest.TestSimpleTree"""
    data = graph_bytes(node("add_node1", "Add", ["add_node2", "add_node3"]),
                       node("add_node2", "Add", ["const_node1", "const_node2"]),
                       node("add_node3", "Add", ["const_node3", "const_node4"]), node("const_node1", "Const"),
                       node("const_node2", "Const"), node("const_node3", "Const"), node("const_node4", "Const"))
    results = both(data, "obfuscate_names", ["const_node1"], ["add_node1"])
    for nodes, _ in results:
        assert {"add_node1", "const_node1"} <= set(nodes)
        assert not {"add_node2", "add_node3", "const_node2", "const_node3", "const_node4"} & set(nodes)
    if len(results) == 2:  # the same generated names as TensorFlow, in base 62
        assert results[0][1] == results[1][1]
        assert {n: v.inputs for n, v in results[0][0].items()} == {n: v.inputs for n, v in results[1][0].items()}


def test_obfuscate_many_nodes():
    """obfuscate_names_test.cc, ObfuscateNamesTest.TestManyNodes"""
    data = graph_bytes(*[node(f"const_node{i}", "Const") for i in range(1000)])
    results = both(data, "obfuscate_names", ["const_node0"], ["const_node999"])
    for nodes, _ in results:
        assert "const_node0" in nodes and "const_node500" not in nodes and "const_node999" in nodes
    if len(results) == 2:
        assert results[0][1] == results[1][1]


def test_obfuscate_name_clashes():
    """obfuscate_names_test.cc, ObfuscateNamesTest.TestNameClashes"""
    data = graph_bytes(*[node(f"1{i}", "Const") for i in range(1000)])
    for nodes, order in both(data, "obfuscate_names", ["10"], ["19"]):
        assert "10" in nodes and "19" in nodes and len(set(order)) == len(order) == 1000


# --- quantize_nodes_test.cc: merge_duplicate_nodes ---------------------------------------------------

def _run(data, fetches, feeds=None):
    tf = pytest.importorskip("tensorflow")
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(data)
    with tf.Graph().as_default() as g:
        tf.graph_util.import_graph_def(gd, name="")
        with tf.compat.v1.Session(graph=g) as s:
            return s.run([f + ":0" for f in fetches], {k + ":0": v for k, v in (feeds or {}).items()})


def _check_same_values(data, transforms, inputs, outputs, feeds=None):
    """quantize_nodes_test.cc TestTransformedVersusFloatGraph: the transformed graph computes the same."""
    if TransformGraphWithStringInputs is None:
        return
    out = tg.Graph.from_bytes(data).apply(transforms, inputs=inputs, outputs=outputs).to_bytes()
    for a, b in zip(_run(data, outputs, feeds), _run(out, outputs, feeds)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _math(name, op, inputs):
    return node(name, op, inputs, T="type: DT_FLOAT")


def test_merge_duplicate_consts():
    """quantize_nodes_test.cc, QuantizeNodesTest.TestMergeDuplicateConsts"""
    iota = list(range(1, 11))
    data = graph_bytes(const("a_op", iota), const("b_op", iota), _math("add_op", "Add", ["a_op", "b_op"]),
                       const("c_op", [v + 1 for v in iota]), _math("mul_op", "Mul", ["add_op", "c_op"]))
    for nodes, _ in both(data, "merge_duplicate_nodes", [], ["mul_op"]):
        assert ("a_op" in nodes) + ("b_op" in nodes) == 1
        remaining = "a_op" if "a_op" in nodes else "b_op"
        assert nodes["add_op"].inputs == [remaining, remaining]
        assert "c_op" in nodes and nodes["mul_op"].inputs == ["add_op", "c_op"]
    _check_same_values(data, "merge_duplicate_nodes", [], ["mul_op"])


def test_merge_duplicates_nested():
    """quantize_nodes_test.cc, QuantizeNodesTest.TestMergeDuplicatesNested"""
    iota = list(range(1, 11))
    data = graph_bytes(const("a_op", iota), _math("a_relu_op", "Relu", ["a_op"]), const("b_op", iota),
                       _math("b_relu_op", "Relu", ["b_op"]), _math("add_op", "Add", ["a_relu_op", "b_relu_op"]),
                       const("c_op", [v + 1 for v in iota]), _math("mul_op", "Mul", ["add_op", "c_op"]))
    for nodes, _ in both(data, "merge_duplicate_nodes", [], ["mul_op"]):
        assert ("a_op" in nodes) + ("b_op" in nodes) == 1
        assert ("a_relu_op" in nodes) + ("b_relu_op" in nodes) == 1
        relu = "a_relu_op" if "a_relu_op" in nodes else "b_relu_op"
        assert nodes["add_op"].inputs == [relu, relu] and nodes["mul_op"].inputs == ["add_op", "c_op"]
    _check_same_values(data, "merge_duplicate_nodes", [], ["mul_op"])


def test_merge_duplicates_in_out():
    """quantize_nodes_test.cc, QuantizeNodesTest.TestMergeDuplicateInOut: named inputs and outputs stay."""
    iota = list(range(1, 11))
    data = graph_bytes(const("a_op", iota), _math("a_relu_op", "Relu", ["a_op"]), const("b_op", iota),
                       _math("b_relu_op", "Relu", ["b_op"]), _math("add_op", "Add", ["a_relu_op", "b_relu_op"]),
                       const("c_op", [v + 1 for v in iota]), _math("mul_op1", "Mul", ["add_op", "c_op"]),
                       _math("mul_op2", "Mul", ["add_op", "c_op"]), _math("mul_op3", "Mul", ["add_op", "c_op"]),
                       _math("final_mul_op", "Mul", ["mul_op2", "mul_op3"]))
    outputs = ["mul_op1", "final_mul_op"]
    for nodes, _ in both(data, "merge_duplicate_nodes", ["a_op"], outputs):
        assert {"a_op", "b_op", "a_relu_op", "b_relu_op", "mul_op1", "final_mul_op", "c_op"} <= set(nodes)
        assert ("mul_op2" in nodes) + ("mul_op3" in nodes) == 1
        mul = "mul_op2" if "mul_op2" in nodes else "mul_op3"
        assert nodes["final_mul_op"].inputs == [mul, mul] and nodes["mul_op1"].inputs == ["add_op", "c_op"]
    _check_same_values(data, "merge_duplicate_nodes", ["a_op"], outputs)


def test_merge_duplicate_quantizes():
    """quantize_nodes_test.cc, QuantizeNodesTest.TestMergeDuplicateQuantizes"""
    data = graph_bytes(
        const("quantized_op", [0], "DT_QUINT8", []), const("quantized_min_op", [2.0], shape=[]),
        const("quantized_max_op", [2.0], shape=[]),
        node("dequantize_op", "Dequantize", ["quantized_op", "quantized_min_op", "quantized_max_op"],
             T="type: DT_QUINT8", mode='s: "MIN_COMBINED"'),
        const("dequantize_reshape_dims1", [-1], "DT_INT32"), const("quantize_reduction_dims1", [0], "DT_INT32", []),
        node("quantize_reshape1", "Reshape", ["dequantize_op", "dequantize_reshape_dims1"], T="type: DT_FLOAT",
             Tshape="type: DT_INT32"),
        node("quantize_min1", "Min", ["quantize_reshape1", "quantize_reduction_dims1"], T="type: DT_FLOAT",
             Tidx="type: DT_INT32", keep_dims="b: false"),
        node("quantize_max1", "Max", ["quantize_reshape1", "quantize_reduction_dims1"], T="type: DT_FLOAT",
             Tidx="type: DT_INT32", keep_dims="b: false"),
        node("quantize_op1", "QuantizeV2", ["dequantize_op", "quantize_min1", "quantize_max1"], T="type: DT_QUINT8",
             mode='s: "MIN_FIRST"'),
        const("dequantize_reshape_dims2", [-1], "DT_INT32"), const("quantize_reduction_dims2", [0], "DT_INT32", []),
        node("quantize_reshape2", "Reshape", ["dequantize_op", "dequantize_reshape_dims2"], T="type: DT_FLOAT",
             Tshape="type: DT_INT32"),
        node("quantize_min2", "Min", ["quantize_reshape2", "quantize_reduction_dims2"], T="type: DT_FLOAT",
             Tidx="type: DT_INT32", keep_dims="b: false"),
        node("quantize_max2", "Max", ["quantize_reshape2", "quantize_reduction_dims2"], T="type: DT_FLOAT",
             Tidx="type: DT_INT32", keep_dims="b: false"),
        node("quantize_op2", "QuantizeV2", ["dequantize_op", "quantize_min1", "quantize_max1"], T="type: DT_QUINT8",
             mode='s: "MIN_FIRST"'),
        node("final_dequantize1", "Dequantize", ["quantize_op1", "quantize_op1:1", "quantize_op1:2"],
             T="type: DT_QUINT8", mode='s: "MIN_COMBINED"'),
        node("final_dequantize2", "Dequantize", ["quantize_op2", "quantize_op2:1", "quantize_op2:2"],
             T="type: DT_QUINT8", mode='s: "MIN_COMBINED"'),
        _math("add_op", "Add", ["final_dequantize1", "final_dequantize2"]))
    for nodes, _ in both(data, "merge_duplicate_nodes", [], ["add_op"]):
        assert sum(n.op == "QuantizeV2" for n in nodes.values()) == 1
    _check_same_values(data, "merge_duplicate_nodes", [], ["add_op"])


def test_merge_keeps_identical_placeholders_unless_tensorflow_is_asked():
    """DIFFERENCE: tfforge never merges ops that are fed, stateful or control flow (a fixed list; it has
    no op registry). TensorFlow merges whatever its registry calls stateless, two identical unnamed
    Placeholders included; engine=tensorflow runs the pass through TensorFlow's library."""
    pytest.importorskip("tensorflow")
    data = graph_bytes(node("a", "Placeholder", dtype="type: DT_FLOAT"), node("b", "Placeholder", dtype="type: DT_FLOAT"),
                       _math("out", "Add", ["a", "b"]))
    nodes, _ = ours(data, "merge_duplicate_nodes", [], ["out"])
    assert set(nodes) == {"a", "b", "out"}
    nodes, _ = ours(data, "merge_duplicate_nodes(engine=tensorflow)", [], ["out"])
    assert set(nodes) == {"a", "out"} and nodes["out"].inputs == ["a", "a"]
    with pytest.raises(TransformError, match="engine= takes one of"):
        ours(data, "merge_duplicate_nodes(engine=fast)", [], ["out"])


# --- transform_graph_test.cc ------------------------------------------------------------------------

def test_parse_transform_parameters():
    """transform_graph_test.cc, TransformGraphTest.TestParseTransformParameters"""
    from tfforge.graph.transforms import parse
    assert parse("foo") == [("foo", [])]
    assert parse("foo bar") == [("foo", []), ("bar", [])]
    assert parse("foo() bar()") == [("foo", []), ("bar", [])]
    assert parse("foo(bob_something=sue)") == [("foo", [("bob_something", "sue")])]
    assert parse("bar(a=1, b=2, a=3)") == [("bar", [("a", "1"), ("b", "2"), ("a", "3")])]
    assert parse('bar(a="1", b="1,2,3", a=3)') == [("bar", [("a", "1"), ("b", "1,2,3"), ("a", "3")])]


def test_parse_escaped_newline():
    """transform_graph_test.cc, TransformGraphTest.TestParseEscapedNewline"""
    from tfforge.graph.transforms import parse
    assert parse("\\\n") == []


def test_should_ignore_errors():
    """transform_graph_test.cc, TransformGraphTest.TestShouldIgnoreErrors, through a failing pass:
    ignore_errors=true leaves the graph unchanged, false (and no argument) fails, foo is rejected."""
    data = _placeholder_graph()
    bad = "strip_unused_nodes(type=floot, ignore_errors={})"
    nodes, order = ours(data, bad.format("true"), ["mul_node"], ["add_node"])
    assert order == ["add_node", "mul_node", "a_node", "b_node", "c_node"] and nodes["mul_node"].op == "Mul"
    if TransformGraphWithStringInputs is not None:
        assert theirs(data, bad.format("TRUE"), ["mul_node"], ["add_node"])[1] == order
    nodes, _ = ours(data, bad.format("TRUE"), ["mul_node"], ["add_node"])  # compared without case, as TF does
    assert nodes["mul_node"].op == "Mul"
    for value in ("false", "foo"):
        with pytest.raises(TransformError, match="floot" if value == "false" else "should be true or false, found foo"):
            ours(data, bad.format(value), ["mul_node"], ["add_node"])
        if TransformGraphWithStringInputs is not None:
            assert tf_fails(data, bad.format(value), ["mul_node"], ["add_node"])
    with pytest.raises(TransformError, match="should be true or false, found foo"):
        ours(data, "remove_device(ignore_errors=foo)", [], ["add_node"])


def test_transform_registration():
    """transform_graph_test.cc, TransformGraphTest.TestTransformRegistration: unknown names fail."""
    with pytest.raises(TransformError, match="test_no_such_transform"):
        ours(_add_graph(), "test_no_such_transform", [], ["add_node"])


def test_missing_output_is_an_error_like_tensorflow():
    """strip_unused_nodes.cc: "Input node ... not found in graph" for an output that is not there."""
    with pytest.raises(GraphError, match="no_such_output"):
        ours(_add_graph(), "strip_unused_nodes", [], ["no_such_output"])
    if TransformGraphWithStringInputs is not None:
        assert tf_fails(_add_graph(), "strip_unused_nodes", [], ["no_such_output"])
