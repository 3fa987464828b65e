"""TFRecord compatibility with real TensorFlow, both ways: tf.data + tf.io.parse_example read what
tfforge writes; tfforge reads what TensorFlow writes (all compressions, unpacked fields,
SequenceExample context)."""

import numpy as np
import pytest

import tfforge.records as records

tf = pytest.importorskip("tensorflow")

pytestmark = pytest.mark.tensorflow

N = 37
RNG = np.random.default_rng(7)
DATA = {
    "label": np.arange(N, dtype=np.int64) - 18,                     # negative int64: 10-byte varints
    "big": np.array([2**62, -(2**62), 0] * 12 + [1], dtype=np.int64),
    "vec": RNG.random((N, 5)).astype(np.float32),                   # fixed-length vector
    "mat": RNG.integers(0, 1000, (N, 2, 3)),                        # fixed 2-D shape
    "tokens": [np.arange(i % 4, dtype=np.int64) for i in range(N)],  # variable length incl. empty lists
    "weights": [RNG.random(i % 3).astype(np.float32) for i in range(N)],
    "image": [bytes(RNG.integers(0, 256, i * 11, dtype=np.uint8)) for i in range(N)],
    "words": [[b"a" * (i % 3)] * (i % 4) for i in range(N)],           # variable-length bytes lists
    "name": [f"row-{i}-é" for i in range(N)],
}


def tf_parse(paths, compression, features):
    ds = tf.data.TFRecordDataset(paths, compression_type=compression).batch(1000)
    batches = [tf.io.parse_example(x, features) for x in ds]
    assert len(batches) == 1
    return batches[0]


@pytest.mark.parametrize("compression", ["none", "gzip", "zlib"])
def test_tf_reads_what_tfforge_writes(tmp_path, compression):
    paths = records.write(DATA, str(tmp_path / "ds"), shards=2, compression=compression, progress=False)
    assert [p[len(str(tmp_path)) + 1:] for p in paths] == [
        f"ds-0000{i}-of-00002.tfrecord" + {"none": "", "gzip": ".gz", "zlib": ".zz"}[compression] for i in range(2)]
    spec = records.spec(str(tmp_path / "ds"))
    got = tf_parse(paths, {"none": None, "gzip": "GZIP", "zlib": "ZLIB"}[compression], spec.to_tf())
    np.testing.assert_array_equal(got["label"].numpy(), DATA["label"])
    np.testing.assert_array_equal(got["big"].numpy(), DATA["big"])
    np.testing.assert_array_equal(got["vec"].numpy(), DATA["vec"])
    np.testing.assert_array_equal(got["mat"].numpy(), DATA["mat"])
    assert got["tokens"].to_list() == [t.tolist() for t in DATA["tokens"]]
    assert [np.float32(w).tolist() for w in got["weights"].to_list()] == [w.tolist() for w in DATA["weights"]]
    assert list(got["image"].numpy()) == DATA["image"]
    assert got["words"].to_list() == DATA["words"]
    assert [b.decode() for b in got["name"].numpy()] == DATA["name"]


def test_varlen_as_sparse_and_scalar_specs(tmp_path):
    path = str(tmp_path / "one.tfrecord")
    with records.Writer(path) as w:
        w.write({"x": [np.array([1, 2]), np.array([], dtype=np.int64), np.array([5])]})
    spec = records.Spec({"x": records.Feature("int64", None)})
    got = tf_parse([path], None, spec.to_tf(varlen="sparse"))
    assert isinstance(got["x"], tf.SparseTensor)
    assert tf.sparse.to_dense(got["x"]).numpy().tolist() == [[1, 2], [0, 0], [5, 0]]


def test_write_example_matches_tf_serialization(tmp_path):
    path = str(tmp_path / "ex.tfrecord")
    with records.Writer(path) as w:
        w.write_example({"a": 3, "b": [1.5, 2.5], "c": b"xyz", "d": ["p", "q"]})
    raw = next(iter(tf.data.TFRecordDataset(path))).numpy()
    ex = tf.train.Example.FromString(raw)
    f = ex.features.feature
    assert list(f["a"].int64_list.value) == [3]
    assert list(f["b"].float_list.value) == [1.5, 2.5]
    assert list(f["c"].bytes_list.value) == [b"xyz"]
    assert list(f["d"].bytes_list.value) == [b"p", b"q"]
    # Byte-for-byte what protobuf serializes for the same message (packed fields; keys sorted, as ours are here).
    assert raw == ex.SerializeToString(deterministic=True)


def _tf_example(i):
    return tf.train.Example(features=tf.train.Features(feature={
        "id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
        "score": tf.train.Feature(float_list=tf.train.FloatList(value=[i / 2, -i])),
        "blob": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"z" * i])),
        "tags": tf.train.Feature(int64_list=tf.train.Int64List(value=list(range(i % 3)))),
    }))


@pytest.mark.parametrize("compression", ["", "GZIP", "ZLIB"])
def test_tfforge_reads_what_tf_writes(tmp_path, compression):
    path = str(tmp_path / "tf.tfrecord")
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(compression_type=compression)) as w:
        for i in range(25):
            w.write(_tf_example(i).SerializeToString())
    assert records.count(path) == 25
    assert records.verify(path).ok
    batches = list(records.read(path, batch_size=10))  # no spec file: inferred from the data
    assert [len(b["id"]) for b in batches] == [10, 10, 5]
    ids = np.concatenate([b["id"] for b in batches])
    assert ids.tolist() == list(range(25))
    score = np.concatenate([b["score"] for b in batches])
    assert score.shape == (25, 2) and score[:, 1].tolist() == [-i for i in range(25)]
    assert [x for b in batches for x in b["blob"]] == [b"z" * i for i in range(25)]
    assert [r.tolist() for b in batches for r in b["tags"]] == [list(range(i % 3)) for i in range(25)]


def _unpacked_example_bytes():
    # Example{features{feature{key:"v" value{int64_list{value:1 value:300}}}
    #                  feature{key:"f" value{float_list{value:1.0 value:2.0}}}}}, with repeated fields NOT
    # packed (as proto2 writers and some tools emit them), built by hand from the wire format.
    def ld(field, payload):
        n, out = len(payload), bytearray()
        out.append(field << 3 | 2)
        while n >= 0x80:
            out.append(n & 0x7F | 0x80)
            n >>= 7
        out.append(n)
        return bytes(out) + payload

    ints = bytes([0x08, 0x01, 0x08, 0xAC, 0x02])  # field 1 varint 1, field 1 varint 300
    floats = bytes([0x0D]) + np.float32(1).tobytes() + bytes([0x0D]) + np.float32(2).tobytes()
    fv = ld(1, ld(1, b"v") + ld(2, ld(3, ints)))
    ff = ld(1, ld(1, b"f") + ld(2, ld(2, floats)))
    return ld(1, fv + ff)


def test_unpacked_repeated_fields(tmp_path):
    raw = _unpacked_example_bytes()
    parsed = tf.io.parse_single_example(raw, {"v": tf.io.FixedLenFeature([2], tf.int64),
                                              "f": tf.io.FixedLenFeature([2], tf.float32)})
    assert parsed["v"].numpy().tolist() == [1, 300]  # TensorFlow agrees with the hand-built bytes
    path = str(tmp_path / "unpacked.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(raw)
    (batch,) = records.read(path)
    assert batch["v"].tolist() == [[1, 300]]
    assert batch["f"].tolist() == [[1.0, 2.0]]


def test_sequence_example_context(tmp_path):
    seq = tf.train.SequenceExample(
        context=tf.train.Features(feature={
            "length": tf.train.Feature(int64_list=tf.train.Int64List(value=[3])),
            "title": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"movie"]))}),
        feature_lists=tf.train.FeatureLists(feature_list={
            "frames": tf.train.FeatureList(feature=[
                tf.train.Feature(float_list=tf.train.FloatList(value=[1.0, 2.0])) for _ in range(3)])}))
    path = str(tmp_path / "seq.tfrecord")
    with tf.io.TFRecordWriter(path) as w:
        w.write(seq.SerializeToString())
        w.write(seq.SerializeToString())
    (batch,) = records.read(path)
    assert batch["length"].tolist() == [3, 3]
    assert list(batch["title"]) == [b"movie", b"movie"]


def test_empty_lists_of_unknown_kind(tmp_path):
    # The first rows say nothing about the kind; TensorFlow must still parse them as the kind seen later.
    path = str(tmp_path / "e.tfrecord")
    with records.Writer(path) as w:
        w.write_example({"tags": [], "n": 1})
        w.write_example({"tags": ["a", "b"], "n": 2})
        w.write({"tags": [[], []], "n": np.array([3, 4])})
    assert w.spec["tags"].kind == "bytes" and w.spec["tags"].varlen
    got = tf_parse([path], None, w.spec.to_tf())
    assert got["tags"].to_list() == [[], [b"a", b"b"], [], []]
    (batch,) = records.read(path, spec=w.spec)
    assert batch["tags"].tolist() == [[], ["a", "b"], [], []]  # written as str, read back as str
