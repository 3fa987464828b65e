"""Corrupt and truncated input: CorruptRecordError naming file, record and byte offset; recovery mode
skips and reports; writers never leave a file that looks complete."""

import gzip
import os
import resource
import struct

import numpy as np
import pytest

import tfforge.records as records
from tfforge.errors import CorruptRecordError, SpecError


def frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", records.masked_crc32c(length)) + data
            + struct.pack("<I", records.masked_crc32c(data)))


def write_dataset(path, n=10):
    with records.Writer(path) as w:
        w.write({"i": np.arange(n), "s": [b"x" * k for k in range(n)]})
    return open(path, "rb").read()


def record_offsets(raw):
    offsets, pos = [], 0
    while pos < len(raw):
        offsets.append(pos)
        pos += 16 + struct.unpack_from("<Q", raw, pos)[0]
    return offsets


def test_bad_data_crc_names_file_record_and_offset(tmp_path):
    path = str(tmp_path / "d.tfrecord")
    raw = bytearray(write_dataset(path))
    offs = record_offsets(raw)
    raw[offs[5] - 5] ^= 0xFF  # the last data byte of record 4 (inside its bytes value)
    open(path, "wb").write(raw)
    with pytest.raises(CorruptRecordError) as e:
        list(records.read(path))
    assert e.value.path == path and e.value.record == 4 and e.value.offset == offs[4]
    assert "CRC" in str(e.value) and path in str(e.value) and f"byte offset {offs[4]}" in str(e.value)
    # Without CRC checks the damaged byte goes through (it lies inside the bytes value).
    assert sum(len(b["i"]) for b in records.read(path, verify=False)) == 10
    report = records.verify(path)
    assert not report.ok and [(x["record"], x["offset"]) for x in report.errors] == [(4, offs[4])]


def test_bad_length_crc_and_resync(tmp_path):
    path = str(tmp_path / "d.tfrecord")
    raw = bytearray(write_dataset(path))
    offs = record_offsets(raw)
    raw[offs[2] + 9] ^= 0x01  # the length CRC of record 2
    open(path, "wb").write(raw)
    with pytest.raises(CorruptRecordError, match="length CRC") as e:
        list(records.read(path))
    assert (e.value.record, e.value.offset) == (2, offs[2])
    it = records.read(path, skip_corrupt=True)
    with pytest.warns(UserWarning, match="skipped 1"):
        got = np.concatenate([b["i"] for b in it])
    assert got.tolist() == [0, 1, 3, 4, 5, 6, 7, 8, 9]  # resynchronised on record 3
    assert it.skipped[0]["offset"] == offs[2] and it.skipped[0]["bytes"] == offs[3] - offs[2]


@pytest.mark.parametrize("cut", [5, 13, 40])
def test_truncated_file(tmp_path, cut):
    path = str(tmp_path / "d.tfrecord")
    raw = write_dataset(path)
    last = record_offsets(raw)[-1]
    open(path, "wb").write(raw[:last + cut])
    with pytest.raises(CorruptRecordError, match="truncated") as e:
        list(records.read(path))
    assert (e.value.record, e.value.offset) == (9, last)
    it = records.read(path, skip_corrupt=True)
    with pytest.warns(UserWarning):
        assert sum(len(b["i"]) for b in it) == 9
    assert it.skipped[0]["record"] == 9


def test_absurd_length_does_not_allocate(tmp_path):
    # A header with a valid CRC announcing ~1.1 TB, plain and gzip-compressed (where the file size
    # cannot bound it): both fail fast without growing memory.
    length = struct.pack("<Q", 1 << 40)
    bogus = length + struct.pack("<I", records.masked_crc32c(length)) + b"\0" * 1000
    plain, gz = str(tmp_path / "a.tfrecord"), str(tmp_path / "a.tfrecord.gz")
    open(plain, "wb").write(frame(b"") + bogus)
    open(gz, "wb").write(gzip.compress(frame(b"") + bogus))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path in (plain, gz):
        with pytest.raises(CorruptRecordError) as e:
            list(records.read(path, spec={"x": records.Feature("int64", None)}))
        assert e.value.record == 1 and e.value.offset == 16
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB


def test_truncated_gzip_stream(tmp_path):
    path = str(tmp_path / "d.tfrecord.gz")
    records.write({"i": np.arange(5000)}, str(tmp_path / "d"), compression="gzip", progress=False)
    src = str(tmp_path / "d-00000-of-00001.tfrecord.gz")
    data = open(src, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    with pytest.raises(CorruptRecordError) as e:
        records.count(path)
    assert e.value.path == path and e.value.offset is not None


def test_malformed_example(tmp_path):
    path = str(tmp_path / "d.tfrecord")
    good = open(str(tmp_path / "g.tfrecord"), "wb")
    good.close()
    write_dataset(str(tmp_path / "g2.tfrecord"), 3)
    raw = open(str(tmp_path / "g2.tfrecord"), "rb").read()
    # Record 1: framing fine, but the Example claims a 100-byte field in 3 bytes.
    open(path, "wb").write(raw[:record_offsets(raw)[1]] + frame(b"\x0a\x64\x00\x00") + raw[record_offsets(raw)[1]:])
    spec = records.Spec({"i": records.Feature("int64"), "s": records.Feature("bytes")})
    with pytest.raises(CorruptRecordError, match="malformed Example") as e:
        list(records.read(path, spec=spec))
    assert e.value.record == 1 and e.value.offset == record_offsets(raw)[1] + 12 + 2
    it = records.read(path, spec=spec, skip_corrupt=True)
    with pytest.warns(UserWarning):
        assert np.concatenate([b["i"] for b in it]).tolist() == [0, 1, 2]
    assert "malformed Example" in it.skipped[0]["reason"] and it.skipped[0]["record"] == 1
    assert records.verify(path).ok and not records.verify(path, examples=True).ok


def test_spec_mismatch_names_record(tmp_path):
    path = str(tmp_path / "d.tfrecord")
    with records.Writer(path) as w:
        w.write({"v": [np.arange(3), np.arange(3), np.arange(2)]})
    with pytest.raises(SpecError, match="has 2 values where the spec says 3") as e:
        list(records.read(path, spec={"v": records.Feature("int64", (3,))}))
    assert e.value.record == 2
    with pytest.raises(SpecError, match="is missing"):
        list(records.read(path, spec={"w": records.Feature("int64")}))
    with pytest.raises(SpecError, match="int64_list; the spec says float"):
        list(records.read(path, spec={"v": records.Feature("float", None)}))
    got = list(records.read(path, spec={"w": records.Feature("int64", (2,), default=[7, 8])}))
    assert got[0]["w"].tolist() == [[7, 8]] * 3


def test_writer_leaves_nothing_on_failure(tmp_path):
    path = str(tmp_path / "w.tfrecord")
    with pytest.raises(RuntimeError):
        with records.Writer(path) as w:
            w.write({"i": np.arange(10)})
            raise RuntimeError("interrupted")
    assert os.listdir(tmp_path) == []

    def batches():
        yield {"i": np.arange(100)}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        records.write(batches(), str(tmp_path / "ds"), shards=3, progress=False)
    assert os.listdir(tmp_path) == []
    with pytest.raises(SpecError):
        records.write([{"i": np.arange(3)}, {"i": [b"a", b"b"]}], str(tmp_path / "ds"), progress=False)
    assert os.listdir(tmp_path) == []


def test_bad_input_columns(tmp_path):
    with pytest.raises(SpecError, match="different numbers of rows"):
        records.write({"a": np.arange(3), "b": np.arange(4)}, str(tmp_path / "x"), progress=False)
    with pytest.raises(SpecError, match="cannot store"):
        records.write({"a": np.array([1 + 2j])}, str(tmp_path / "x"), progress=False)
    with pytest.raises(SpecError, match="needs 4"):
        records.write({"a": np.zeros((2, 3))}, str(tmp_path / "x"), spec={"a": {"kind": "float", "shape": [4]}},
                      progress=False)
    assert os.listdir(tmp_path) == []
