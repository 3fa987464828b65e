"""Parallel reading: records.read decodes a batch's records on worker threads and must give exactly what
one worker gives (rows, batch boundaries, skipped records, the first error), and what TensorFlow parses;
count and verify check files in parallel and report them in order."""

import os

import numpy as np
import pytest

from tfforge import records
from tfforge.errors import CorruptRecordError, SpecError

tf = pytest.importorskip("tensorflow")


def _example(i: int) -> bytes:
    f = tf.train.Feature
    return tf.train.Example(features=tf.train.Features(feature={
        "label": f(int64_list=tf.train.Int64List(value=[i])),
        "emb": f(float_list=tf.train.FloatList(value=[i * 0.5, -i, 1.0])),
        "tags": f(int64_list=tf.train.Int64List(value=list(range(i % 5)))),
        "name": f(bytes_list=tf.train.BytesList(value=[b"row%d" % i] * (i % 3))),
    })).SerializeToString()


SPEC = {"features": {"label": {"kind": "int64", "shape": []}, "emb": {"kind": "float", "shape": [3]},
                     "tags": {"kind": "int64", "shape": None}, "name": {"kind": "bytes", "shape": None}}}


def _write(path, rows, extra=None):
    with tf.io.TFRecordWriter(path) as w:
        for i in rows:
            w.write(extra if extra is not None and i == -1 else _example(i))
    return path


@pytest.fixture
def files(tmp_path):
    return [_write(str(tmp_path / f"part{k}.tfrecord"), range(k * 700, k * 700 + 700 - 37 * k)) for k in range(3)]


def _rows(batches):
    out = []
    for b in batches:
        n = len(b["label"])
        for r in range(n):
            out.append((int(b["label"][r]), tuple(b["emb"][r].tolist()), tuple(b["tags"][r].tolist()),
                        tuple(b["name"][r].tolist())))
    return out


def _spec():
    return records.Spec.coerce(SPEC)


def test_workers_give_the_same_batches_as_one(files):
    one = list(records.read(files, batch_size=256, spec=_spec(), workers=1))
    for workers in (2, 3, 8):
        many = list(records.read(files, batch_size=256, spec=_spec(), workers=workers))
        assert [len(b["label"]) for b in many] == [len(b["label"]) for b in one]
        assert _rows(many) == _rows(one)


def test_parallel_read_equals_tensorflow(files):
    got = _rows(records.read(files, batch_size=500, spec=_spec(), workers=4))
    spec = {"label": tf.io.FixedLenFeature([], tf.int64), "emb": tf.io.FixedLenFeature([3], tf.float32),
            "tags": tf.io.RaggedFeature(tf.int64), "name": tf.io.RaggedFeature(tf.string)}
    want = []
    for b in tf.data.TFRecordDataset(files).batch(500).map(lambda x: tf.io.parse_example(x, spec)):
        for r in range(int(b["label"].shape[0])):
            want.append((int(b["label"][r]), tuple(b["emb"][r].numpy().tolist()), tuple(b["tags"][r].numpy().tolist()),
                         tuple(b["name"][r].numpy().tolist())))
    assert got == want


def test_unordered_gives_the_same_rows(files):
    got = _rows(records.read(files, batch_size=128, spec=_spec(), workers=3, ordered=False))
    want = _rows(records.read(files, batch_size=128, spec=_spec(), workers=1))
    assert sorted(got) == sorted(want) and len(got) == 700 * 3 - 37 * 3


def test_skipped_malformed_examples_are_the_same_and_in_order(tmp_path):
    path = str(tmp_path / "bad.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for i in range(900):
            w.write(b"\x0a\xff\xff" if i in (5, 400, 401, 899) else _example(i))
    results = []
    for workers in (1, 4):
        with pytest.warns(UserWarning, match="skipped 4"):
            it = records.read(path, batch_size=300, spec=_spec(), skip_corrupt=True, workers=workers)
            rows = _rows(it)
        results.append((rows, [(s["record"], s["offset"]) for s in it.skipped]))
    assert results[0] == results[1]
    assert [r for r, _ in results[1][1]] == [5, 400, 401, 899]
    assert len(results[1][0]) == 896


@pytest.mark.parametrize("workers", [1, 4])
def test_first_error_in_record_order_raises(tmp_path, workers):
    path = str(tmp_path / "mixed.tfrecord")
    wrong_kind = tf.train.Example(features=tf.train.Features(feature={
        "label": tf.train.Feature(float_list=tf.train.FloatList(value=[1.0]))})).SerializeToString()
    with tf.io.TFRecordWriter(path) as w:
        for i in range(1000):
            w.write(wrong_kind if i == 333 else b"\x0a\xff\xff" if i == 900 else _example(i))
    with pytest.raises(SpecError, match="record 333"):
        list(records.read(path, batch_size=1000, spec=_spec(), workers=workers))
    with pytest.raises(CorruptRecordError, match="record 900"):
        list(records.read(path, batch_size=1000, spec=_spec(), workers=workers, features=["tags"]))


def test_count_and_verify_in_parallel_report_files_in_order(files, tmp_path):
    assert records.count(files, workers=3) == records.count(files, workers=1) == 700 * 3 - 37 * 3
    broken = str(tmp_path / "part9.tfrecord")
    data = bytearray(open(files[1], "rb").read())
    data[100] ^= 0xFF
    open(broken, "wb").write(bytes(data))
    paths = [files[0], broken, files[2]]
    one, many = records.verify(paths, workers=1), records.verify(paths, workers=3)
    assert [f["path"] for f in many.files] == paths
    assert str(one) == str(many) and not many.ok and many.errors[0]["path"] == broken


def test_workers_argument_is_checked(files):
    for bad in (0, -1, 1.5, True, 5000):
        with pytest.raises(SpecError, match="workers"):
            records.read(files, workers=bad)


def test_feature_lists_and_partitions_decode_the_same_on_workers(tmp_path):
    path = str(tmp_path / "seq.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for i in range(600):
            steps = [tf.train.Feature(int64_list=tf.train.Int64List(value=list(range(s % 3 + i % 2))))
                     for s in range(i % 4)]
            w.write(tf.train.SequenceExample(
                context=tf.train.Features(feature={"id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))}),
                feature_lists=tf.train.FeatureLists(feature_list={"tok": tf.train.FeatureList(feature=steps)}),
            ).SerializeToString())
    spec = records.Spec.from_tf(context_features={"id": tf.io.FixedLenFeature([], tf.int64)},
                                sequence_features={"tok": tf.io.RaggedFeature(tf.int64)})

    def rows(workers):
        out = []
        for b in records.read(path, batch_size=250, spec=spec, workers=workers):
            out.append((b["id"].tolist(), repr(b["tok"].tolist() if hasattr(b["tok"], "tolist") else b["tok"])))
        return out

    assert rows(4) == rows(1)


def _batches(paths, **kw):
    out = []
    try:
        for b in records.read(paths, spec=_spec(), **kw):
            out.append(_rows([b]))
    except Exception as exc:  # the batches before the error, and the error
        return out, (type(exc), str(exc))
    return out, None


def test_default_is_parallel_and_batches_span_files_as_one_worker_cuts_them(files):
    it = records.read(files, batch_size=300, spec=_spec())
    assert it.workers == records.reader.default_workers()
    for batch_size in (1, 299, 700, 5000):
        assert _batches(files, batch_size=batch_size, workers=3) == _batches(files, batch_size=batch_size, workers=1)


def test_errors_mid_stream_come_after_the_same_batches(files, tmp_path):
    """A damaged record (data CRC), a truncated file, a malformed Example in a later file: workers yield
    every batch before it and raise the error one worker raises."""
    damaged = str(tmp_path / "damaged.tfrecord")
    data = bytearray(open(files[1], "rb").read())
    data[5000] ^= 0x55
    open(damaged, "wb").write(bytes(data))
    truncated = str(tmp_path / "truncated.tfrecord")
    open(truncated, "wb").write(open(files[1], "rb").read()[:-7])
    malformed = _write(str(tmp_path / "malformed.tfrecord"), [1, 2, -1, 3], extra=b"\x0a\xff\xff")
    header = str(tmp_path / "header.tfrecord")  # a length CRC broken: the 301st record's header
    data = bytearray(open(files[1], "rb").read())
    at = 0
    for _ in range(300):
        at += 16 + int.from_bytes(data[at:at + 8], "little")
    data[at + 9] ^= 0x01
    open(header, "wb").write(bytes(data))
    huge = str(tmp_path / "huge.tfrecord")  # a length past the end of the file
    data = bytearray(open(files[1], "rb").read())
    data[at:at + 12] = (1 << 40).to_bytes(8, "little") + bytes(4)
    open(huge, "wb").write(bytes(data))
    for paths in ([files[0], damaged, files[2]], [files[0], truncated, files[2]], [files[0], malformed],
                  [files[0], header], [header, files[0]], [huge]):
        for batch_size in (128, 1000):
            want = _batches(paths, batch_size=batch_size, workers=1)
            assert want[1] is not None
            assert _batches(paths, batch_size=batch_size, workers=3) == want
    # Without CRC checks the damaged record is decoded as it is, by both paths alike.
    unchecked = _batches([files[0], damaged, files[2]], batch_size=128, workers=1, verify=False)
    assert _batches([files[0], damaged, files[2]], batch_size=128, workers=3, verify=False) == unchecked


def test_a_file_removed_before_its_turn_fails_after_the_earlier_batches(files, tmp_path):
    late = _write(str(tmp_path / "late.tfrecord"), range(10))
    for workers in (1, 2):
        it = records.read([files[0], late], batch_size=100, spec=_spec(), workers=workers)
        first = next(it)
        os.unlink(late)
        with pytest.raises(Exception, match="late.tfrecord"):
            list(it)
        assert len(first["label"]) == 100
        _write(late, range(10))


def test_compressed_and_plain_files_in_one_parallel_read(files, tmp_path):
    records.write({"label": np.arange(1000), "tags": [np.arange(i % 4) for i in range(1000)]},
                  str(tmp_path / "gz"), shards=2, compression="gzip", progress=False)
    paths = sorted(str(p) for p in tmp_path.glob("gz-*"))
    spec = {"features": {"label": {"kind": "int64", "shape": []}, "tags": {"kind": "int64", "shape": None}}}
    one = [(b["label"].tolist(), b["tags"].tolist()) for b in records.read(paths, batch_size=333, spec=spec, workers=1)]
    two = [(b["label"].tolist(), b["tags"].tolist()) for b in records.read(paths, batch_size=333, spec=spec, workers=2)]
    assert one == two and sum(len(x) for x, _ in two) == 1000


def test_abandoned_parallel_read_stops_its_threads(files):
    import gc

    def threads():
        return len(os.listdir("/proc/self/task"))

    if not os.path.isdir("/proc/self/task"):
        pytest.skip("needs /proc to count native threads")
    before = threads()
    it = records.read(files, batch_size=64, spec=_spec(), workers=3)
    next(it)
    assert threads() == before + 2  # the caller decodes too
    del it
    gc.collect()
    assert threads() == before
