"""Parallel ordered reading of large uncompressed files (16 MB and more: cc/graph/mapped_file.h's
threshold; not changed in the last 0.1 s) decodes records straight from a memory mapping: the same
batches, bytes and errors as one worker (which reads through a buffer), and a file truncated or
rewritten while it is read gives an error naming it, never a crash or silently different data."""

import os
import time

import numpy as np
import pytest

from tfforge import records
from tfforge.errors import TfforgeError

PAD = bytes(range(256)) * 31  # 7936 bytes


def _settled(path: str) -> str:
    """Waits until the file's last change is 0.1 s old, so it is mapped (a file changed just now is read
    piece by piece; its change time cannot be set back)."""
    while time.time_ns() - max(os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns) < 150_000_000:
        time.sleep(0.05)
    return path


def _mapped(path: str) -> bool:
    return path in open("/proc/self/maps").read()


def _data(start: int, n: int) -> dict:
    return {"id": np.arange(start, start + n),
            "blob": [i.to_bytes(4, "little") + PAD[: i % 300 + 7000] for i in range(start, start + n)],
            "emb": np.arange(start * 4, (start + n) * 4, dtype=np.float32).reshape(n, 4),
            "tags": [np.arange(i % 5) for i in range(start, start + n)]}


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A small shard then a 17 MB one then another small one (batches span the file boundaries)."""
    d = tmp_path_factory.mktemp("mapped")
    paths = []
    for name, start, n in (("a", 0, 333), ("b", 333, 2400), ("c", 2733, 101)):
        paths += [_settled(p) for p in records.write(_data(start, n), str(d / name), shards=1, progress=False)]
    assert os.path.getsize(paths[1]) >= 16 << 20
    spec = records.spec(str(d / "b"))
    return paths, spec


def _batches(paths, spec, **kw):
    out = []
    try:
        for b in records.read(paths, spec=spec, **kw):
            out.append((b["id"].tolist(), b["blob"].tolist(), b["emb"].tolist(), b["tags"].tolist()))
    except Exception as exc:  # the batches before the error, and the error
        return out, (type(exc), str(exc))
    return out, None


def test_mapped_file_reads_as_one_worker_reads_it(big):
    paths, spec = big
    for batch_size in (100, 1024):
        want = _batches(paths, spec, batch_size=batch_size, workers=1)
        assert want[1] is None and sum(len(b[0]) for b in want[0]) == 2834
        assert _batches(paths, spec, batch_size=batch_size, workers=2) == want
        assert _batches(paths[1:2], spec, batch_size=batch_size, workers=3) == _batches(
            paths[1:2], spec, batch_size=batch_size, workers=1)
    first = _batches(paths, spec, batch_size=3000, workers=2)[0][0]
    assert first[0] == list(range(2834)) and first[1][1000] == (1000).to_bytes(4, "little") + PAD[:7100]
    if os.path.exists("/proc/self/maps"):  # the path under test: the large file is mapped, the small ones not
        it = records.read(paths[1:], spec=spec, batch_size=100, workers=2)
        next(it)
        assert _mapped(paths[1]) and not _mapped(paths[2])
        del it


def test_a_file_changed_just_now_is_read_without_a_mapping(big, tmp_path):
    paths, spec = big
    fresh = str(tmp_path / "fresh.tfrecord")
    open(fresh, "wb").write(open(paths[1], "rb").read())
    it = records.read(fresh, spec=spec, batch_size=100, workers=2)
    first = next(it)
    if os.path.exists("/proc/self/maps"):
        assert not _mapped(fresh)
    rest = list(it)
    assert first["id"][0] == 333 and sum(len(b["id"]) for b in rest) == 2300


def _offset_of(data: bytes, record: int) -> int:
    at = 0
    for _ in range(record):
        at += 16 + int.from_bytes(data[at:at + 8], "little")
    return at


def _damaged(tmp_path, src, name, edit):
    data = bytearray(open(src, "rb").read())
    edit(data)
    path = str(tmp_path / name)
    open(path, "wb").write(bytes(data))
    return _settled(path)


def test_damage_in_a_mapped_file_raises_as_one_worker_does(big, tmp_path):
    paths, spec = big
    src = paths[1]
    data = open(src, "rb").read()
    at = _offset_of(data, 1500)

    def flip_data(d):
        d[at + 100] ^= 0x40

    def flip_header(d):
        d[at + 9] ^= 0x01

    def huge_length(d):
        d[at:at + 12] = (1 << 40).to_bytes(8, "little") + bytes(4)

    cases = [_damaged(tmp_path, src, "data.tfrecord", flip_data),
             _damaged(tmp_path, src, "header.tfrecord", flip_header),
             _damaged(tmp_path, src, "huge.tfrecord", huge_length),
             _damaged(tmp_path, src, "cut.tfrecord", lambda d: d.__delitem__(slice(len(d) - 9, None)))]
    for bad in cases:
        for batch_size in (128, 1000):
            want = _batches([paths[0], bad], spec, batch_size=batch_size, workers=1)
            assert want[1] is not None and os.path.basename(bad) in want[1][1]
            assert _batches([paths[0], bad], spec, batch_size=batch_size, workers=2) == want
    # Without CRC checks the damaged record decodes as it is, on one worker and on two alike.
    unchecked = _batches([cases[0]], spec, batch_size=500, workers=1, verify=False)
    assert _batches([cases[0]], spec, batch_size=500, workers=2, verify=False) == unchecked


@pytest.mark.parametrize("change", ["truncate", "rewrite"])
def test_a_mapped_file_changed_while_read_is_an_error(big, tmp_path, change):
    paths, spec = big
    path = str(tmp_path / "live.tfrecord")
    data = open(paths[1], "rb").read()
    open(path, "wb").write(data)
    _settled(path)
    it = records.read(path, spec=spec, batch_size=100, workers=2)
    first = next(it)
    assert first["id"].tolist() == list(range(333, 433))
    if os.path.exists("/proc/self/maps"):  # the path under test: the file is mapped
        assert _mapped(path)
    if change == "truncate":
        os.truncate(path, len(data) // 3)
    else:  # same size, other bytes: every record after the first batches differs
        with open(path, "r+b") as f:
            f.seek(len(data) // 2)
            f.write(bytes(len(data) - len(data) // 2))
    with pytest.raises(TfforgeError, match="live.tfrecord"):
        for b in it:
            assert b["blob"][0][4:] == PAD[: int(b["id"][0]) % 300 + 7000]
