"""`records.verify` of one large uncompressed file splits its records among the cores
(cc/record/parallel_verify.cc); the report is the one a single thread gives: the same record count,
and for a damaged file the same errors with the same record numbers and offsets (the serial reader
reports them)."""

import os
import shutil
import time

import numpy as np
import pytest

from tfforge import records

PAD = bytes(range(256)) * 31


def _settled(path) -> str:
    """Waits until the file's last change is 0.15 s old: files changed just now are read serially."""
    path = str(path)
    while time.time_ns() - max(os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns) < 150_000_000:
        time.sleep(0.05)
    return path


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify")
    n = 2400
    data = {"id": np.arange(n), "blob": [i.to_bytes(4, "little") + PAD[: i % 300 + 7000] for i in range(n)]}
    [path] = records.write(data, str(d / "big"), shards=1, progress=False)
    assert os.path.getsize(path) >= 16 << 20
    return _settled(path), n


def _copy_with(src, dst, offset, byte):
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as f:
        f.seek(offset)
        f.write(bytes([byte]))
    return _settled(dst)


def _offsets(path):
    """Header offset of every record, from the framing."""
    out, at, size = [], 0, os.path.getsize(path)
    with open(path, "rb") as f:
        while at < size:
            out.append(at)
            f.seek(at)
            at += 16 + int.from_bytes(f.read(8), "little")
    return out


@pytest.mark.parametrize("examples", [False, True])
def test_a_clean_large_file_verifies_on_all_cores_as_on_one(big, examples):
    path, n = big
    one = records.verify(path, workers=1, examples=examples)
    two = records.verify(path, workers=2, examples=examples)
    assert one.ok and two.ok
    assert two.records == one.records == n
    assert two.bytes == one.bytes == os.path.getsize(path)
    assert two.files[0]["stream_bytes"] == one.files[0]["stream_bytes"]


@pytest.mark.parametrize("where", ["data", "data_crc", "length", "header_crc", "tail"])
def test_a_damaged_large_file_gets_the_serial_report(big, tmp_path, where):
    path, n = big
    offsets = _offsets(path)
    at = offsets[1700]
    damage = {"data": at + 12 + 100, "data_crc": offsets[1701] - 2, "length": at + 3, "header_crc": at + 9,
              "tail": os.path.getsize(path) - 1}[where]
    with open(path, "rb") as f:
        f.seek(damage)
        old = f.read(1)[0]
    bad = _copy_with(path, tmp_path / "bad.tfrecord", damage, old ^ 0x40)
    one = records.verify(bad, workers=1)
    two = records.verify(bad, workers=2)
    assert not one.ok
    assert str(two) == str(one)
    assert two.files == one.files


def test_a_record_that_is_not_an_example_gets_the_serial_report(big, tmp_path):
    tf = pytest.importorskip("tensorflow")
    path, n = big
    good = [bytes(r) for r in tf.data.TFRecordDataset(path).as_numpy_iterator()]
    bad = tmp_path / "not_example.tfrecord"
    with tf.io.TFRecordWriter(str(bad)) as w:
        for i, r in enumerate(good):
            w.write(b"\x0a\xff\xff\xff" if i == 1234 else r)
    _settled(bad)
    one = records.verify(str(bad), workers=1, examples=True)
    two = records.verify(str(bad), workers=2, examples=True)
    assert len(one.errors) == 1 and one.errors[0]["record"] == 1234
    assert str(two) == str(one)
    assert records.verify(str(bad), workers=2).ok  # framing and CRCs are fine
