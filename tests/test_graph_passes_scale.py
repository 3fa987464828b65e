"""Every native pass on 100k-node graphs: a long Identity chain and twin chains of duplicates, the shapes
that made remove_nodes and merge_duplicate_nodes quadratic (68 s and 166 s at 40k nodes). The passes are
linear (merge: plus the hashed attribute bytes), so each case here runs in well under a second; a
quadratic pass would take hours. No timing is asserted: the results are."""

from __future__ import annotations

import pytest

import tfforge.graph as tg

N = 100_000


def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _node(name: str, op: str, inputs=(), device: str = "") -> bytes:
    body = _field(1, name.encode()) + _field(2, op.encode()) + b"".join(_field(3, i.encode()) for i in inputs)
    if device:
        body += _field(4, device.encode())
    return _field(1, body)


def _chain(prefix: str, n: int, source: str, op: str = "Identity", device: str = "") -> list[bytes]:
    nodes, prev = [], source
    for i in range(n):
        name = f"{prefix}{i}"
        nodes.append(_node(name, op, [prev], device))
        prev = name
    return nodes


def _identity_chain_nodes() -> list[bytes]:
    """x -> id0 -> id1 -> ... -> id{N-1} -> out, every node on a device."""
    nodes = [_node("x", "Placeholder", device="/cpu:0")] + _chain("id", N, "x", device="/cpu:0")
    nodes.append(_node("out", "Neg", [f"id{N - 1}", "^x"], "/cpu:0"))
    return nodes


@pytest.fixture(scope="module")
def identity_chain():
    return tg.Graph.from_bytes(b"".join(_identity_chain_nodes()))


@pytest.fixture(scope="module")
def twin_chains():
    """Two identical Neg chains from one input, added at the end: merging makes them one."""
    half = N // 2
    nodes = [_node("x", "Placeholder")] + _chain("a", half, "x", "Neg") + _chain("b", half, "x", "Neg")
    nodes.append(_node("out", "Add", [f"a{half - 1}", f"b{half - 1}"]))
    return tg.Graph.from_bytes(b"".join(nodes))


def test_remove_nodes_on_a_long_chain(identity_chain):
    out = identity_chain.apply("remove_nodes(op=Identity)", inputs=["x"], outputs=["out"])
    assert [n.name for n in out.nodes] == ["x", "out"] and out.node("out").inputs == ["x", "^x"]


def test_merge_duplicate_nodes_on_twin_chains(twin_chains):
    out = twin_chains.apply("merge_duplicate_nodes", inputs=["x"], outputs=["out"])
    half = N // 2
    assert len(out) == half + 2 and out.node("out").inputs == [f"a{half - 1}", f"a{half - 1}"]
    assert out.node("a1").inputs == ["a0"]


def test_strip_and_sort_on_a_long_chain(identity_chain):
    out = identity_chain.apply("strip_unused_nodes", inputs=[f"id{N // 2}"], outputs=["out"])
    assert len(out) == N // 2 + 2 and out.node(f"id{N // 2}").op == "Placeholder"
    reversed_graph = tg.Graph.from_bytes(b"".join(reversed(_identity_chain_nodes())))
    position = reversed_graph.apply("sort_by_execution_order")._native.find
    assert [position(name) for name in ("x", "id0", "id1", "id2", "out")] == [0, 1, 2, 3, N + 1]


@pytest.mark.parametrize("transforms", [
    "remove_device", "set_device(device=/gpu:0)", "rename_op(old_op_name=Identity, new_op_name=Snapshot)",
    "rename_node(old_node_name=id5, new_node_name=five)", "rename_attribute(old_attribute_name=T, new_attribute_name=U)",
    "remove_attribute(attribute_name=T)", "add_prefix(prefix=p/)", "remove_control_dependencies", "obfuscate_names",
])
def test_every_other_pass_on_a_long_chain(identity_chain, transforms):
    out = identity_chain.apply(transforms, inputs=["x"], outputs=["out"])
    assert len(out) == N + 2
    if transforms == "obfuscate_names":
        assert out.node("out").inputs[1] == "^x" and "id99999" not in out and out.node("Z").inputs == ["Y"]
    if transforms.startswith("add_prefix"):
        assert out.node("p/id1").inputs == ["p/id0"]
    if transforms.startswith("rename_node"):
        assert out.node("id6").inputs == ["five"]
