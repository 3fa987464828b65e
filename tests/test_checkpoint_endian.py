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
        b = buf[pos]; pos += 1
        v |= (b & 0x7F) << shift; shift += 7
        if not b & 0x80: return v, pos

def put_varint(v):
    out = bytearray()
    while v >= 0x80: out.append(v & 0x7F | 0x80); v >>= 7
    out.append(v); return bytes(out)

def table_entries(raw):
    foot = raw[-48:]
    _, p = varint(foot, 0); _, p = varint(foot, p); io_, p = varint(foot, p); isz, _ = varint(foot, p)
    def block(off, size):
        b = raw[off:off + size]; n = struct.unpack_from("<I", b, len(b) - 4)[0]
        p, lim, key, out = 0, len(b) - 4 - 4 * n, b"", []
        while p < lim:
            sh, p = varint(b, p); un, p = varint(b, p); vl, p = varint(b, p)
            key = key[:sh] + b[p:p + un]; p += un; out.append((key, b[p:p + vl])); p += vl
        return out
    res = []
    for _, h in block(io_, isz):
        o, q = varint(h, 0); s, _ = varint(h, q); res += block(o, s)
    return res

def build_table(entries):
    """One data block (restart at every entry), the empty metaindex block, the index block, footer."""
    def blk(items):
        body = b"".join(put_varint(0) + put_varint(len(k)) + put_varint(len(v)) + k + v for k, v in items)
        offs, p = [], 0
        for k, v in items:
            offs.append(p); p += len(put_varint(0) + put_varint(len(k)) + put_varint(len(v))) + len(k) + len(v)
        body += b"".join(struct.pack("<I", o) for o in (offs or [0])) + struct.pack("<I", len(offs or [0]))
        return body + b"\x00" + struct.pack("<I", _native.mask_crc32c(_native.crc32c(body + b"\x00")))
    data = blk(entries); dsize = len(data) - 5
    meta_off = len(data); meta = blk([]); msize = len(meta) - 5
    idx = blk([(entries[-1][0], put_varint(0) + put_varint(dsize))]); idx_off = meta_off + len(meta)
    foot = put_varint(meta_off) + put_varint(msize) + put_varint(idx_off) + put_varint(len(idx) - 5)
    return data + meta + idx + foot + bytes(40 - len(foot)) + struct.pack("<Q", 0xdb4775248b80fb57)

def entry_fields(v):
    p, out = 0, []
    while p < len(v):
        start = p; tag, p = varint(v, p); wt = tag & 7
        if wt == 0: _, p = varint(v, p)
        elif wt == 2: n, p = varint(v, p); p += n
        elif wt == 5: p += 4
        elif wt == 1: p += 8
        out.append((tag >> 3, start, p))
    return out

def to_big_endian(src, dst, widths):
    """A big-endian copy of a numeric checkpoint: header endianness BIG, every tensor's scalars
    byte-swapped (widths: bytes per swapped scalar), each entry's CRC32C over the swapped bytes."""
    c = ck.open(src)
    raw = open(src + ".index", "rb").read()
    data = bytearray(open(src + ".data-00000-of-00001", "rb").read())
    out = []
    for key, value in table_entries(raw):
        if key == b"":
            out.append((key, value + b"\x10\x01")); continue
        name = key.decode()
        e = c.entry(name)
        w = widths[name]
        seg = np.frombuffer(bytes(data[e["offset"]:e["offset"] + e["size"]]), dtype=f"<u{w}").byteswap().tobytes()
        data[e["offset"]:e["offset"] + e["size"]] = seg
        crc = _native.mask_crc32c(_native.crc32c(seg))
        v = bytearray(value)
        for f, s, t in entry_fields(value):
            if f == 6: v[t - 4:t] = struct.pack("<I", crc)
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
