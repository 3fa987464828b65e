"""The fast path of records.read's ordered parallel reader (cc/record/batch_pipeline.cc,
cc/python/bind_records_pipeline.cc): the same values as the slow path. (CRC32C's interleaving tiers
are checked in test_foundation_crc32c.py.)"""

import os
import time

import numpy as np
import pytest

from tfforge import records
from tfforge.errors import CorruptRecordError


# --- ordered parallel reading from mapped files: pages given back as batches are taken --------------

def _settled(path: str) -> str:
    """Waits until the file's last change is 0.15 s old, so the reader maps it (see
    test_records_parallel_mapped.py)."""
    while time.time_ns() - max(os.stat(path).st_mtime_ns, os.stat(path).st_ctime_ns) < 150_000_000:
        time.sleep(0.05)
    return path


def _rss_kb(path: str) -> int | None:
    """Resident kB of this process's mapping of path (None: not mapped, or no /proc)."""
    try:
        lines = open("/proc/self/smaps").read().splitlines()
    except OSError:
        return None
    total, inside = None, False
    for line in lines:
        head = line.split()
        if "-" in head[0] and len(head) >= 5:  # a mapping's first line
            inside = line.endswith(path)
        elif inside and head[0] == "Rss:":
            total = (total or 0) + int(head[1])
    return total


def _rows(n: int) -> dict:
    """Bytes values of odd and varying sizes (empty ones too), a ragged bytes feature with empty rows,
    an int64 and floats: about 1.2 MB per 1000 rows."""
    rng = np.random.default_rng(5)
    sizes = rng.integers(0, 2400, n)
    sizes[::97] = 0
    return {"id": np.arange(n),
            "blob": [rng.bytes(int(s)) for s in sizes],
            "names": [[b"x" * (j % 7) for j in range(i % 4)] for i in range(n)],
            "emb": rng.random((n, 3), dtype=np.float32)}


@pytest.fixture(scope="module")
def mapped(tmp_path_factory):
    d = tmp_path_factory.mktemp("fast")
    n = 14500  # about 18 MB: mapped (16 MB and more)
    data = _rows(n)
    path = _settled(records.write(data, str(d / "big"), shards=1, progress=False)[0])
    assert os.path.getsize(path) >= 16 << 20
    return path, records.spec(str(d / "big")), data


def _as_lists(batches) -> list:
    return [{k: (v.tolist(), str(v.dtype), v.shape) if isinstance(v, np.ndarray) else (v.tolist(), type(v).__name__)
             for k, v in b.items()} for b in batches]


@pytest.mark.parametrize("batch_size", [37, 1000, 4096])
def test_mapped_reading_gives_what_one_worker_gives(mapped, batch_size):
    path, spec, data = mapped
    want = _as_lists(records.read(path, spec=spec, batch_size=batch_size, workers=1))
    got = _as_lists(records.read(path, spec=spec, batch_size=batch_size, workers=2))
    assert got == want
    flat = [v for b in want for v in b["blob"][0]]
    assert flat == data["blob"] and b"" in flat


def test_pages_of_taken_batches_are_given_back(mapped):
    path, spec, data = mapped
    size_kb = os.path.getsize(path) // 1024
    it = records.read(path, spec=spec, batch_size=500, workers=2)
    seen = [next(it) for _ in range(20)]  # 10,000 of 14,500 rows
    rss = _rss_kb(path)
    if rss is None:
        pytest.skip("no /proc/self/smaps, or the file was not mapped")
    # Without giving pages back, all 10,000 rows read (and a few batches ahead) would be resident.
    assert rss < size_kb // 2, (rss, size_kb)
    rest = list(it)
    ids = np.concatenate([b["id"] for b in seen + rest])
    assert ids.tolist() == list(range(len(data["id"])))
    assert [v for b in seen + rest for v in b["blob"]] == data["blob"]


def test_a_corrupt_record_late_in_a_mapped_file_names_file_record_and_offset(mapped, tmp_path):
    path, spec, _ = mapped
    raw = bytearray(open(path, "rb").read())
    at, record = 0, 0
    while record < 12000:  # past the batches whose pages were given back by then
        at += 16 + int.from_bytes(raw[at:at + 8], "little")
        record += 1
    raw[at + 12 + 5] ^= 0x10  # a byte of its data: its data CRC fails
    bad = str(tmp_path / "bad.tfrecord")
    open(bad, "wb").write(bytes(raw))
    _settled(bad)
    errors = []
    for workers in (1, 2):
        rows = 0
        with pytest.raises(CorruptRecordError) as info:
            for b in records.read(bad, spec=spec, batch_size=1000, workers=workers):
                rows += len(b["id"])
        assert rows == 12000
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    assert "bad.tfrecord" in errors[0] and "12000" in errors[0] and str(at) in errors[0], errors[0]
