"""Parallel ordered reading hands bytes values to Python straight from the records it read (no copy in
between, cc/record/batch_pipeline.h with ExampleDecoder::borrow_bytes): every kind of bytes column must
still come out exactly as one worker and TensorFlow give it, batches kept by the caller must stay intact
while later ones are read into recycled buffers, and errors must stay those of one worker."""

import numpy as np
import pytest

from tfforge import records
from tfforge.errors import CorruptRecordError, SpecError

tf = pytest.importorskip("tensorflow")

F = tf.train.Feature


def _example(i: int) -> bytes:
    feature = {
        "id": F(int64_list=tf.train.Int64List(value=[i])),
        "blob": F(bytes_list=tf.train.BytesList(value=[bytes([i % 251]) * (i % 97 + 1)])),
        "words": F(bytes_list=tf.train.BytesList(value=[b"w%d" % j for j in range(i % 4)])),
        "text": F(bytes_list=tf.train.BytesList(value=[("z\u00e9%d" % (i % 7)).encode()])),
    }
    if i % 5:  # "tag" missing every fifth row: the spec's default fills it
        feature["tag"] = F(bytes_list=tf.train.BytesList(value=[b"t%d" % i, b""]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


SPEC = {"features": {
    "id": {"kind": "int64", "shape": []},
    "blob": {"kind": "bytes", "shape": []},
    "words": {"kind": "bytes", "shape": None},
    "text": {"kind": "bytes", "shape": [], "dtype": "str"},
    "tag": {"kind": "bytes", "shape": [2], "default": [b"none", b"-"]},
}}


def _write(path, rows, bad=None):
    with tf.io.TFRecordWriter(path) as w:
        for i in rows:
            w.write(bad if bad is not None and i == -1 else _example(i))
    return path


def _rows(batches):
    out = []
    for b in batches:
        for r in range(len(b["id"])):
            out.append((int(b["id"][r]), b["blob"][r], tuple(b["words"][r].tolist()), b["text"][r],
                        tuple(b["tag"][r].tolist())))
    return out


def _read(paths, **kw):
    return list(records.read(paths, spec=records.Spec.coerce(SPEC), **kw))


@pytest.fixture
def shards(tmp_path):
    """Many small shards of uneven sizes, two of them empty."""
    sizes = [0, 7, 130, 1, 0, 260, 33, 500, 2]
    paths, start = [], 0
    for k, n in enumerate(sizes):
        paths.append(_write(str(tmp_path / f"s{k:02d}.tfrecord"), range(start, start + n)))
        start += n
    return paths


def test_bytes_columns_equal_one_worker_and_tensorflow(shards):
    want = _rows(_read(shards, batch_size=64, workers=1))
    for workers in (2, 3):
        for batch_size in (1, 64, 999):
            got = _read(shards, batch_size=batch_size, workers=workers)
            assert _rows(got) == want
    spec = {"id": tf.io.FixedLenFeature([], tf.int64), "blob": tf.io.FixedLenFeature([], tf.string),
            "words": tf.io.RaggedFeature(tf.string), "text": tf.io.FixedLenFeature([], tf.string),
            "tag": tf.io.FixedLenFeature([2], tf.string, default_value=[b"none", b"-"])}
    tf_rows = []
    for b in tf.data.TFRecordDataset(shards).batch(100).map(lambda x: tf.io.parse_example(x, spec)):
        for r in range(int(b["id"].shape[0])):
            tf_rows.append((int(b["id"][r]), b["blob"][r].numpy(), tuple(b["words"][r].numpy().tolist()),
                            b["text"][r].numpy().decode(), tuple(b["tag"][r].numpy().tolist())))
    assert want == tf_rows and len(want) == 933


def test_batches_kept_by_the_caller_stay_intact(tmp_path):
    """One big shard cut into many batches: the buffers the records were read into are reused for later
    batches while the caller holds every earlier batch."""
    path = _write(str(tmp_path / "big.tfrecord"), range(3000))
    held = _read(path, batch_size=50, workers=3)
    assert len(held) == 60
    assert _rows(held) == _rows(_read(path, batch_size=3000, workers=1))
    assert held[0]["blob"][1] == bytes([1]) * 2 and held[-1]["text"][-1] == "z\u00e9%d" % (2999 % 7)


def test_compressed_shards_with_bytes(tmp_path):
    data = {"id": np.arange(700), "blob": [bytes([i % 256]) * (i % 50) for i in range(700)],
            "words": [[b"a" * j for j in range(i % 3)] for i in range(700)]}
    prefix = str(tmp_path / "gz")
    records.write(data, prefix, shards=3, compression="gzip", progress=False)
    one = list(records.read(prefix, batch_size=128, workers=1))
    two = list(records.read(prefix, batch_size=128, workers=2))
    assert [b["blob"].tolist() for b in one] == [b["blob"].tolist() for b in two]
    assert [b["words"].tolist() for b in one] == [b["words"].tolist() for b in two]
    assert sum(len(b["id"]) for b in two) == 700


def test_bytes_feature_lists_and_lenient_kinds_on_workers(tmp_path):
    path = str(tmp_path / "seq.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        for i in range(400):
            steps = [F(bytes_list=tf.train.BytesList(value=[b"s%d.%d" % (i, s)] * (s % 3))) for s in range(i % 4)]
            context = {"id": F(int64_list=tf.train.Int64List(value=[i]))}
            if i % 7 == 0:  # another kind than the spec's, accepted as an empty list by the lenient decoder
                context["name"] = F(int64_list=tf.train.Int64List(value=[]))
            else:
                context["name"] = F(bytes_list=tf.train.BytesList(value=[b"n%d" % i] * (i % 2)))
            w.write(tf.train.SequenceExample(
                context=tf.train.Features(feature=context),
                feature_lists=tf.train.FeatureLists(feature_list={"tok": tf.train.FeatureList(feature=steps)}),
            ).SerializeToString())
    spec = records.Spec.from_tf(context_features={"id": tf.io.FixedLenFeature([], tf.int64),
                                                  "name": tf.io.RaggedFeature(tf.string)},
                                sequence_features={"tok": tf.io.RaggedFeature(tf.string)})

    def rows(workers):
        out = []
        for b in records.read(path, batch_size=90, spec=spec, workers=workers, strict=False):
            out.append((b["id"].tolist(), b["name"].tolist(), repr(b["tok"].tolist())))
        return out

    assert rows(3) == rows(1)
    with pytest.raises(SpecError, match="record 0"):
        list(records.read(path, batch_size=90, spec=spec, workers=3))


@pytest.mark.parametrize("bad, error", [(b"\x0a\xff\xff", CorruptRecordError), (None, SpecError)])
def test_bad_record_mid_shard_raises_as_one_worker_does(tmp_path, bad, error):
    if bad is None:  # a bytes feature given as int64
        bad = tf.train.Example(features=tf.train.Features(feature={
            "id": F(int64_list=tf.train.Int64List(value=[1])),
            "blob": F(int64_list=tf.train.Int64List(value=[1]))})).SerializeToString()
    path = _write(str(tmp_path / "bad.tfrecord"), [*range(1500), -1, *range(1500, 2000)], bad=bad)
    results = []
    for workers in (1, 3):
        got = []
        with pytest.raises(error) as exc:
            for b in records.read(path, batch_size=100, spec=records.Spec.coerce(SPEC), workers=workers):
                got.append(_rows([b]))
        results.append((got, str(exc.value)))
    assert results[0] == results[1]
    assert len(results[0][0]) == 15 and "record 1500" in results[0][1] and "bad.tfrecord" in results[0][1]
