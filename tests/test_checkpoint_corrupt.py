"""Every checksummed structure of a checkpoint is verified: any single bit flip in the .index and any
changed byte in a .data file is a CheckpointError naming the file, the tensor and the byte offset -
never different data (issue 10: a flipped .index bit used to turn a float32 tensor into int32)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import tfforge.checkpoint as ck
from tfforge.errors import CheckpointError


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    d = tmp_path_factory.mktemp("orig")
    prefix = str(d / "m")
    ck.write(prefix, {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "i": np.arange(3, dtype=np.int64),
                      "s": np.array([b"ab", b"cde"], dtype=object), "h": np.ones(2, np.float16)})
    return prefix


def _snapshot(prefix):
    c = ck.open(prefix)
    return {n: (c.dtype_name(n), c.shape(n), c.read(n).tolist()) for n in c.names()}


def _copy(prefix, dst):
    for suffix in (".index", ".data-00000-of-00001"):
        shutil.copy(prefix + suffix, dst + suffix)


def test_every_index_bit_flip_is_an_error(original, tmp_path):
    want = _snapshot(original)
    raw = open(original + ".index", "rb").read()
    target = str(tmp_path / "m")
    _copy(original, target)
    errors = unchanged = 0
    for pos in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[pos] ^= 1 << bit
            with open(target + ".index", "wb") as f:
                f.write(flipped)
            try:
                got = _snapshot(target)
            except CheckpointError as exc:
                assert exc.path and exc.path.startswith(target), exc
                errors += 1
                continue
            assert got == want, (pos, bit)
            unchanged += 1
    assert unchanged == 0 and errors == 8 * len(raw)


def test_dtype_flip_in_index_is_reported(original, tmp_path):
    """The issue's case: the dtype varint of tensor 'w' (DT_FLOAT=1 -> DT_INT32=3)."""
    raw = bytearray(open(original + ".index", "rb").read())
    entry = raw.index(b"w") + 1          # key 'w', then its BundleEntryProto: 08 01 (dtype float)
    assert raw[entry:entry + 2] == b"\x08\x01"
    raw[entry + 1] = 3
    target = str(tmp_path / "m")
    _copy(original, target)
    open(target + ".index", "wb").write(raw)
    with pytest.raises(CheckpointError, match="block checksum mismatch") as e:
        ck.open(target)
    assert e.value.path == target + ".index" and e.value.offset is not None


def test_every_data_byte_change_is_a_crc_error_naming_tensor_file_and_offset(original, tmp_path):
    raw = open(original + ".data-00000-of-00001", "rb").read()
    target = str(tmp_path / "m")
    _copy(original, target)
    c0 = ck.open(original)
    spans = {n: (c0.entry(n)["offset"], c0.entry(n)["size"]) for n in c0.names()}
    for pos in range(len(raw)):
        bad = bytearray(raw)
        bad[pos] ^= 0x10
        open(target + ".data-00000-of-00001", "wb").write(bad)
        c = ck.open(target)
        (name,) = [n for n, (o, s) in spans.items() if o <= pos < o + s]
        with pytest.raises(CheckpointError, match="CRC32C mismatch|malformed|runs past|left over") as e:
            c.read(name)
        assert f"tensor '{name}'" in str(e.value)
        assert e.value.path == target + ".data-00000-of-00001" and e.value.offset is not None
        for other in set(spans) - {name}:
            c.read(other)  # the other tensors are untouched and still read


def test_truncated_and_missing_data_files(original, tmp_path):
    target = str(tmp_path / "m")
    _copy(original, target)
    data = target + ".data-00000-of-00001"
    size = os.path.getsize(data)
    os.truncate(data, size - 3)
    c = ck.open(target)
    last = max(c.names(), key=lambda n: c.entry(n)["offset"])
    with pytest.raises(CheckpointError, match="run past the end of the data file") as e:
        c.read(last)
    assert e.value.offset == c.entry(last)["offset"]
    os.remove(data)
    with pytest.raises(CheckpointError, match="data shard unreadable"):
        ck.open(target).read("w")


def test_truncated_index(original, tmp_path):
    raw = open(original + ".index", "rb").read()
    target = str(tmp_path / "m")
    for cut in (0, 10, len(raw) - 1):
        open(target + ".index", "wb").write(raw[:cut])
        with pytest.raises(CheckpointError, match="corrupt checkpoint index"):
            ck.open(target)


def test_data_file_truncated_after_open_is_an_error_not_a_fault(original, tmp_path):
    """read() copies with pread and checks the copy: a shard that shrinks under an open checkpoint
    (already mapped by an earlier read) gives a clean error, never SIGBUS or different bytes."""
    target = str(tmp_path / "m")
    _copy(original, target)
    c = ck.open(target)
    first = min(c.names(), key=lambda n: c.entry(n)["offset"])
    last = max(c.names(), key=lambda n: c.entry(n)["offset"])
    c.read(first)
    os.truncate(target + ".data-00000-of-00001", c.entry(last)["offset"] + 1)
    with pytest.raises(CheckpointError, match="ends early") as e:
        c.read(last)
    assert e.value.path == target + ".data-00000-of-00001"
    with open(target + ".data-00000-of-00001", "r+b") as f:  # same size, different bytes: the CRC says so
        f.seek(c.entry(first)["offset"])
        f.write(b"\xff")
    with pytest.raises(CheckpointError, match="CRC32C mismatch"):
        c.read(first)
