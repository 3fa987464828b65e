"""Big-endian checkpoints (BundleHeaderProto.endianness = BIG, as TensorFlow writes on big-endian
hosts; its BundleReader byte-swaps them on read): tfforge reads them as TensorFlow does. The
big-endian file is made here from a little-endian one, with its own small table builder."""

from __future__ import annotations

import struct

import ml_dtypes
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfforge.checkpoint as ck  # noqa: E402
from tfforge import _native  # noqa: E402


def varint(buf, pos):
    v = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, pos


def put_varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def table_entries(raw):
    """(key, value) of every entry of a table, through the footer's index block."""
    foot = raw[-48:]
    _, p = varint(foot, 0)
    _, p = varint(foot, p)
    index_off, p = varint(foot, p)
    index_size, _ = varint(foot, p)

    def block(off, size):
        b = raw[off:off + size]
        n = struct.unpack_from("<I", b, len(b) - 4)[0]
        p, limit, key, out = 0, len(b) - 4 - 4 * n, b"", []
        while p < limit:
            shared, p = varint(b, p)
            unshared, p = varint(b, p)
            length, p = varint(b, p)
            key = key[:shared] + b[p:p + unshared]
            p += unshared
            out.append((key, b[p:p + length]))
            p += length
        return out
    entries = []
    for _, handle in block(index_off, index_size):
        off, q = varint(handle, 0)
        size, _ = varint(handle, q)
        entries += block(off, size)
    return entries


def _block(items):
    """A block with a restart at every entry, and its trailer (type 0, masked CRC32C)."""
    body, restarts = b"", []
    for k, v in items:
        restarts.append(len(body))
        body += put_varint(0) + put_varint(len(k)) + put_varint(len(v)) + k + v
    restarts = restarts or [0]
    body += b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))
    return body + b"\x00" + struct.pack("<I", _native.mask_crc32c(_native.crc32c(body + b"\x00")))


def build_table(entries):
    """One data block, the empty metaindex block, the index block, the footer."""
    data = _block(entries)
    meta_off, meta = len(data), _block([])
    index = _block([(entries[-1][0], put_varint(0) + put_varint(len(data) - 5))])
    index_off = meta_off + len(meta)
    foot = put_varint(meta_off) + put_varint(len(meta) - 5) + put_varint(index_off) + put_varint(len(index) - 5)
    return data + meta + index + foot + bytes(40 - len(foot)) + struct.pack("<Q", 0xdb4775248b80fb57)


def entry_fields(v):
    """(field number, start, end) of each field of a serialized BundleEntryProto."""
    p, out = 0, []
    while p < len(v):
        start = p
        tag, p = varint(v, p)
        kind = tag & 7
        if kind == 0:
            _, p = varint(v, p)
        elif kind == 2:
            n, p = varint(v, p)
            p += n
        else:
            p += 4 if kind == 5 else 8
        out.append((tag >> 3, start, p))
    return out


def to_big_endian(src, dst, widths):
    """A big-endian copy of a numeric checkpoint: header endianness BIG, every tensor's scalars
    byte-swapped (widths: bytes per swapped scalar), each entry's CRC32C over the swapped bytes."""
    c = ck.open(src)
    data = bytearray(open(src + ".data-00000-of-00001", "rb").read())
    out = []
    for key, value in table_entries(open(src + ".index", "rb").read()):
        if key == b"":
            out.append((key, value + b"\x10\x01"))  # endianness = BIG
            continue
        e = c.entry(key.decode())
        lo, hi = e["offset"], e["offset"] + e["size"]
        swapped = np.frombuffer(bytes(data[lo:hi]), dtype=f"<u{widths[key.decode()]}").byteswap().tobytes()
        data[lo:hi] = swapped
        v = bytearray(value)
        for field, _, end in entry_fields(value):
            if field == 6:
                v[end - 4:end] = struct.pack("<I", _native.mask_crc32c(_native.crc32c(swapped)))
        out.append((key, bytes(v)))
    open(dst + ".index", "wb").write(build_table(out))
    open(dst + ".data-00000-of-00001", "wb").write(bytes(data))


def test_big_endian_checkpoint_reads_like_tensorflow(tmp_path):
    vals = {"f": np.arange(6, dtype=np.float32).reshape(2, 3), "i": np.array([1, -2**40], np.int64),
            "h": np.array([1.5, -2], np.float16), "b": np.array([1.25, 3], ml_dtypes.bfloat16),
            "c": np.array([1 + 2j], np.complex64), "u": np.array([7, 8], np.uint8)}
    le, be = str(tmp_path / "le"), str(tmp_path / "be")
    ck.write(le, vals, state_file=False)
    to_big_endian(le, be, {"f": 4, "i": 8, "h": 2, "b": 2, "c": 4, "u": 1})
    assert open(be + ".data-00000-of-00001", "rb").read() != open(le + ".data-00000-of-00001", "rb").read()
    c = ck.open(be)
    reader = tf.train.load_checkpoint(be)
    assert c.names() == sorted(reader.get_variable_to_shape_map())
    for name, value in vals.items():
        assert c.read(name).tobytes() == value.tobytes() == np.asarray(reader.get_tensor(name)).tobytes(), name
        assert np.array_equal(c.view(name), value)  # not mapped when swapped: a converted copy
