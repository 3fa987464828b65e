"""Protocol-buffer wire bytes written by hand, for tests that need files protobuf would not produce or
that must not depend on it; and a GraphDef whose Const is large enough to be memory-mapped."""

from __future__ import annotations

import numpy as np

MAP_THRESHOLD = 16 << 20  # files of this size and more are memory-mapped, smaller ones read into memory


def varint(v: int) -> bytes:
    v &= (1 << 64) - 1
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7f) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def ld(number: int, payload: bytes) -> bytes:
    return tag(number, 2) + varint(len(payload)) + payload


def const_graph(payload_bytes: int) -> bytes:
    """A GraphDef: a uint8 Const "big" of `payload_bytes` bytes (value i % 251 at i), then an Identity of it."""
    content = (np.arange(payload_bytes) % 251).astype(np.uint8).tobytes()
    tensor = b"\x08\x04" + ld(2, ld(2, b"\x08" + varint(payload_bytes))) + ld(4, content)
    attrs = ld(5, ld(1, b"dtype") + ld(2, b"\x30\x04")) + ld(5, ld(1, b"value") + ld(2, ld(8, tensor)))
    tail = ld(1, ld(1, b"after") + ld(2, b"Identity") + ld(3, b"big"))
    return ld(1, ld(1, b"big") + ld(2, b"Const") + attrs) + tail
