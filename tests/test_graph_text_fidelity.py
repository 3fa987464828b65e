"""Text format fidelity against protobuf itself: for any binary GraphDef protobuf parses, our text must
be what protobuf's parser made of the binary (text_format reads it into the same message), and our
text parser must turn it back into bytes protobuf reads as that message. Inputs: GraphDefs generated
field by field from TensorFlow's own descriptors (duplicated singular fields, competing oneof members,
packed encodings of singular scalars, wrong wire types, zero values, merged messages) and byte-level
mutations of real graphs."""

from __future__ import annotations

import random
import struct

import pytest
from google.protobuf import descriptor, text_format
from google.protobuf.message import DecodeError

import graph_models as gm
from wire_bytes import ld, tag, varint
from tfforge.errors import GraphError, TfforgeError
from tfforge.graph import text

pytestmark = pytest.mark.tensorflow

FD = descriptor.FieldDescriptor
VARINT_TYPES = {FD.TYPE_INT32, FD.TYPE_INT64, FD.TYPE_UINT32, FD.TYPE_UINT64, FD.TYPE_SINT32, FD.TYPE_SINT64,
                FD.TYPE_BOOL, FD.TYPE_ENUM}
FIXED64_TYPES = {FD.TYPE_DOUBLE, FD.TYPE_FIXED64, FD.TYPE_SFIXED64}
FIXED32_TYPES = {FD.TYPE_FLOAT, FD.TYPE_FIXED32, FD.TYPE_SFIXED32}


class Generator:
    """Random wire bytes for a message type, biased towards what trips text printers up."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def scalar_value(self, f) -> tuple[int, bytes]:
        r = self.rng
        if f.type in VARINT_TYPES:
            v = r.choice([0, 1, -1, 2**31 - 1, -(2**31), 2**32, 2**63 - 1, r.randrange(-(2**40), 2**40), r.randrange(300)])
            if f.type == FD.TYPE_SINT32 or f.type == FD.TYPE_SINT64:
                v = (v << 1) ^ (v >> 63)
            return 0, varint(v)
        if f.type in FIXED64_TYPES:
            if f.type == FD.TYPE_DOUBLE:
                return 1, struct.pack("<d", r.choice([0.0, -0.0, 1.5, 1e300, -2.5e-310, float("inf"), r.uniform(-1e6, 1e6)]))
            return 1, struct.pack("<Q", r.randrange(2**64))
        if f.type == FD.TYPE_FLOAT:
            return 5, struct.pack("<f", r.choice([0.0, -0.0, 0.1, 1e-45, 3.4028235e38, float("-inf"), r.uniform(-1e3, 1e3)]))
        return 5, struct.pack("<I", r.randrange(2**32))

    def field(self, f, depth: int) -> bytes:
        r = self.rng
        if f.type == FD.TYPE_MESSAGE:
            return ld(f.number, self.message(f.message_type, depth + 1) if depth < 5 else b"")
        if f.type == FD.TYPE_STRING:
            return ld(f.number, r.choice([b"", b"a", b"node/x:0", "\u00fcn\u00efc\u00f6de".encode(), b"^ctl"]))
        if f.type == FD.TYPE_BYTES:
            return ld(f.number, bytes(r.randrange(256) for _ in range(r.randrange(6))))
        wire_type, value = self.scalar_value(f)
        roll = r.random()
        if roll < 0.15 or (f.is_repeated and roll < 0.5):  # packed, even for singular fields
            run = value + b"".join(self.scalar_value(f)[1] for _ in range(r.randrange(3)))
            return ld(f.number, run)
        if roll < 0.2:  # a wire type the field does not have
            return tag(f.number, 0 if wire_type != 0 else 5) + (varint(7) if wire_type != 0 else b"\x00\x00\x00\x00")
        return tag(f.number, wire_type) + value

    def message(self, desc, depth: int = 0) -> bytes:
        r = self.rng
        fields = list(desc.fields)
        if not fields:
            return b""
        out = b""
        for _ in range(r.randrange(6 if depth < 3 else 3)):
            f = r.choice(fields)
            out += self.field(f, depth)
            if r.random() < 0.3:  # the same field again: last value wins, messages merge
                out += self.field(f, depth)
        return out


def graph_bytes(gen: Generator, gd_class) -> bytes:
    """A GraphDef whose nodes hold generated attrs (AttrValue's oneof, TensorProto) and fields."""
    node_desc = gd_class.DESCRIPTOR.fields_by_name["node"].message_type
    attr_value = node_desc.fields_by_name["attr"].message_type.fields_by_name["value"].message_type
    out = b""
    for i in range(gen.rng.randrange(1, 4)):
        node = ld(1, f"n{i}".encode()) + ld(2, b"Const")
        for k in range(gen.rng.randrange(1, 3)):
            entry = ld(1, f"a{k}".encode()) + ld(2, gen.message(attr_value, 1))
            node += ld(5, entry)
        node += gen.message(node_desc, 1)
        out += ld(1, node)
    if gen.rng.random() < 0.3:
        out += gen.message(gd_class.DESCRIPTOR, 2)
    return out


def canonical(msg) -> str:
    return text_format.MessageToString(msg)  # maps sorted, floats exact, every NaN alike


def check_round_trip(data: bytes, gd_class) -> bool:
    """Asserts the properties for one input; False when protobuf itself refuses the bytes or tfforge
    refuses them cleanly (a field outside its schema)."""
    expected = gd_class()
    try:
        expected.ParseFromString(data)
    except DecodeError:
        return False
    expected.DiscardUnknownFields()
    try:
        ours = text.to_text(data)
    except TfforgeError:
        return False
    try:
        theirs = text_format.Parse(ours, gd_class())
    except text_format.ParseError as exc:
        raise AssertionError(f"protobuf rejects our text ({exc}) for {data!r}:\n{ours}") from None
    assert canonical(theirs) == canonical(expected), f"text differs from protobuf's parse of {data!r}:\n{ours}"
    back = gd_class()
    back.ParseFromString(text.parse(ours))
    assert canonical(back) == canonical(expected), f"from-text changed the graph {data!r}:\n{ours}"
    return True


def test_generated_graphs_match_protobuf():
    gd_class = type(gm.graph_def(b""))
    checked = 0
    for seed in range(600):
        checked += check_round_trip(graph_bytes(Generator(seed), gd_class), gd_class)
    assert checked > 400  # most inputs are valid protobuf and are checked, not skipped


def test_mutated_real_graphs_match_protobuf():
    gd_class = type(gm.graph_def(b""))
    rng = random.Random(7)
    seeds = [gm.tf1_control_flow()[0], gm.tf2_function_graph()[0]]
    checked = 0
    for _ in range(200):
        buf = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            pos = rng.randrange(len(buf))
            buf[pos] ^= 1 << rng.randrange(8)
        checked += check_round_trip(bytes(buf), gd_class)
    assert checked > 25


def test_singular_duplicates_print_the_value_protobuf_keeps():
    """A packed run on a singular scalar is an unknown field to protobuf; a repeated singular field
    keeps its last value; of a oneof only the member set last counts; messages merge."""
    gd_class = type(gm.graph_def(b""))
    versions = ld(4, tag(1, 0) + varint(5) + ld(1, varint(9) + varint(10)) + tag(1, 0) + varint(7))
    assert text.to_text(versions) == "versions {\n  producer: 7\n}\n"
    # AttrValue: tensor{dtype: FLOAT}, i: 3, tensor{dtype: INT32} -> only the last tensor
    attr = ld(8, tag(1, 0) + varint(1)) + tag(3, 0) + varint(3) + ld(8, tag(1, 0) + varint(3))
    node = ld(1, b"c") + ld(5, ld(1, b"value") + ld(2, attr))
    out = text.to_text(ld(1, node))
    assert "DT_INT32" in out and "DT_FLOAT" not in out and " i: " not in out
    # two occurrences of a singular message merge
    merged = ld(4, tag(1, 0) + varint(5)) + ld(4, tag(2, 0) + varint(3))
    assert text.to_text(merged) == "versions {\n  producer: 5\n  min_consumer: 3\n}\n"
    # proto3 zero scalars are "not set"
    assert text.to_text(ld(4, tag(1, 0) + varint(0))) == "versions {\n}\n"
    for data in (versions, ld(1, node), merged):
        assert check_round_trip(data, gd_class)


def test_from_text_refuses_names_that_are_not_utf8():
    with pytest.raises(GraphError, match=r"line 1 column 14: tensorflow.NodeDef.name is not valid UTF-8") as e:
        text.parse('node { name: "a\\377b" op: "Const" }')
    assert e.value.offset == 13
    with pytest.raises(GraphError, match="NodeDef.input is not valid UTF-8") as e:
        text.parse('node { name: "x" op: "Identity" input: "\\xc3(" }')
    assert e.value.node == "x"
    with pytest.raises(GraphError, match="not valid UTF-8"):
        text.parse('node { name: "\\ud800" }')  # a lone surrogate
    # bytes fields hold anything
    assert text.parse('node { name: "x" attr { key: "s" value { s: "\\377" } } }')
