"""The tf.data bridge: TfforgeParseExampleBatch and records.dataset give what tf.io.parse_example gives on
the same files (dense with defaults, ragged, sparse), inside tf.function, under MirroredStrategy and
as the input of Keras model.fit; bad records and unsupported specs fail with one clear message."""

import os

import numpy as np
import pytest

from tfforge import records
from tfforge.errors import SpecError

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tfforge.ops", exc_type=ImportError)

SPEC = {"features": {
    "label": {"kind": "int64", "shape": []},
    "emb": {"kind": "float", "shape": [2, 2]},
    "weight": {"kind": "float", "shape": [], "default": [0.25]},
    "name": {"kind": "bytes", "shape": []},
    "tags": {"kind": "int64", "shape": None},
    "words": {"kind": "bytes", "shape": None},
    "scores": {"kind": "float", "shape": None},
}}


def _example(i: int) -> bytes:
    f = tf.train.Feature
    feats = {
        "label": f(int64_list=tf.train.Int64List(value=[i])),
        "emb": f(float_list=tf.train.FloatList(value=[i, i + 0.5, -i, 2.0])),
        "name": f(bytes_list=tf.train.BytesList(value=[b"n%d" % i])),
        "tags": f(int64_list=tf.train.Int64List(value=list(range(i % 4)))),
        "words": f(bytes_list=tf.train.BytesList(value=[b"w" * k for k in range(i % 3)])),
        "scores": f(float_list=tf.train.FloatList(value=[0.5] * (i % 5))),
    }
    if i % 3:
        feats["weight"] = f(float_list=tf.train.FloatList(value=[i / 7]))
    return tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bridge")
    out = []
    for k in range(3):
        path = str(d / f"part-{k}.tfrecord")
        with tf.io.TFRecordWriter(path) as w:
            for i in range(k * 100, k * 100 + 90):
                w.write(_example(i))
        out.append(path)
    return out


def _tf_spec(varlen):
    s = records.Spec.coerce(SPEC).to_tf(varlen=varlen)
    return s


def _same(a, b):
    assert type(a) is type(b)
    if isinstance(a, tf.SparseTensor):
        for x, y in ((a.indices, b.indices), (a.values, b.values), (a.dense_shape, b.dense_shape)):
            np.testing.assert_array_equal(x.numpy(), y.numpy())
    elif isinstance(a, tf.RaggedTensor):
        np.testing.assert_array_equal(a.flat_values.numpy(), b.flat_values.numpy())
        np.testing.assert_array_equal(a.row_splits.numpy(), b.row_splits.numpy())
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("varlen", ["ragged", "sparse"])
def test_parse_batch_equals_parse_example(files, varlen):
    spec = records.Spec.coerce(SPEC)
    base = tf.data.TFRecordDataset(files).batch(64)
    ours = base.map(lambda x: records.parse_batch(x, spec, varlen=varlen))
    theirs = base.map(lambda x: tf.io.parse_example(x, _tf_spec(varlen)))
    n = 0
    for a, b in zip(ours, theirs):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
        n += 1
    assert n == 5


def test_dataset_gives_every_row_once(files):
    spec = records.Spec.coerce(SPEC)
    ds = records.dataset(files, 32, spec=spec, shuffle_files=True, shuffle_buffer=50, seed=3)
    labels = np.concatenate([b["label"].numpy() for b in ds])
    want = [i for k in range(3) for i in range(k * 100, k * 100 + 90)]
    assert sorted(labels.tolist()) == want
    ordered = records.dataset(files, 32, spec=spec, deterministic=True, cycle_length=1)
    assert np.concatenate([b["label"].numpy() for b in ordered]).tolist() == want


def test_dataset_from_prefix_with_spec_file_and_gzip(tmp_path):
    data = {"x": np.arange(40, dtype=np.int64), "v": np.arange(80, dtype=np.float32).reshape(40, 2)}
    prefix = str(tmp_path / "ds")
    records.write(data, prefix, shards=2, compression="gzip", progress=False)
    rows = [b for b in records.dataset(prefix, 16, deterministic=True, cycle_length=1)]
    np.testing.assert_array_equal(np.concatenate([b["x"].numpy() for b in rows]), data["x"])
    np.testing.assert_array_equal(np.concatenate([b["v"].numpy() for b in rows]), data["v"])


def test_parse_batch_in_tf_function(files):
    spec = records.Spec.coerce(SPEC)

    @tf.function
    def total(ds):
        s = tf.constant(0, tf.int64)
        for b in ds:
            s += tf.reduce_sum(b["label"]) + tf.reduce_sum(b["tags"].flat_values)
        return s

    ds = records.dataset(files, 40, spec=spec)
    want = sum(i + sum(range(i % 4)) for k in range(3) for i in range(k * 100, k * 100 + 90))
    assert int(total(ds)) == want


def test_mirrored_strategy_on_cpu(files):
    spec = records.Spec.coerce(SPEC)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    dist = strategy.experimental_distribute_dataset(records.dataset(files, 30, spec=spec, features=["label", "emb"]))

    @tf.function
    def step(b):
        return tf.reduce_sum(tf.cast(b["label"], tf.float32)) + tf.reduce_sum(b["emb"])

    total = 0.0
    for b in dist:
        total += float(strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(step, args=(b,)), axis=None))
    want = sum(i + (i + i + 0.5 - i + 2.0) for k in range(3) for i in range(k * 100, k * 100 + 90))
    assert total == pytest.approx(want, rel=1e-5)


def test_keras_fit(files):
    keras = pytest.importorskip("keras")
    spec = records.Spec.coerce(SPEC)
    ds = records.dataset(files, 32, spec=spec, features=["emb", "label"]).map(
        lambda b: (tf.reshape(b["emb"], [-1, 4]) / 300.0, tf.cast(b["label"] % 2, tf.float32)))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    hist = model.fit(ds, epochs=2, verbose=0)
    assert len(hist.history["loss"]) == 2 and np.isfinite(hist.history["loss"]).all()


def test_bad_record_names_its_position(files):
    spec = records.Spec.coerce(SPEC)
    good = _example(1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"record 1 of the batch.*malformed Example"):
        records.parse_batch(tf.constant([good, b"\x0a\xff\xff"]), spec)
    missing = tf.train.Example().SerializeToString()
    with pytest.raises(tf.errors.InvalidArgumentError, match="feature 'label'.* is missing"):
        records.parse_batch(tf.constant([missing]), spec)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="rank|vector"):
        records.parse_batch(tf.constant(good), spec)


def test_spec_and_arguments_are_checked(files, tmp_path):
    spec = records.Spec.coerce(SPEC)
    with pytest.raises(SpecError, match="varlen"):
        records.parse_batch(tf.constant([b""]), spec, varlen="dense")
    with pytest.raises(SpecError, match="not in the spec"):
        records.dataset(files, 8, spec=spec, features=["nope"])
    with pytest.raises(SpecError, match="batch_size"):
        records.dataset(files, 0, spec=spec)
    gz = str(tmp_path / "z.tfrecord.gz")
    with tf.io.TFRecordWriter(gz, options="GZIP") as w:
        w.write(_example(0))
    with pytest.raises(SpecError, match="mix compressions"):
        records.dataset([files[0], gz], 8, spec=spec)


def test_varlen_type_and_unsupported_types(files):
    spec = records.Spec.from_tf({"tags": tf.io.VarLenFeature(tf.int64), "label": tf.io.FixedLenFeature([], tf.int64)})
    base = tf.data.TFRecordDataset(files).batch(50)
    for a, b in zip(base.map(lambda x: records.parse_batch(x, spec)),
                    base.map(lambda x: tf.io.parse_example(x, spec.to_tf()))):
        _same(a["tags"], b["tags"])
        _same(a["label"], b["label"])
    partitioned = records.Spec.from_tf({"tags": tf.io.RaggedFeature(
        tf.int64, partitions=[tf.io.RaggedFeature.UniformRowLength(1)])})
    with pytest.raises(SpecError, match="not supported by the tf.data bridge"):
        records.parse_batch(tf.constant([b""]), partitioned)


@pytest.mark.parametrize("varlen", ["ragged", "sparse"])
def test_native_source_equals_tfrecord_dataset_and_parse_example(files, varlen):
    """Without shuffle_buffer, records.dataset reads through TfforgeRecordBatchDataset: batches span files
    in file order, as TFRecordDataset(files).batch(n) + tf.io.parse_example cut them."""
    spec = records.Spec.coerce(SPEC)
    for batch_size in (1, 64, 1000):
        got = list(records.dataset(files, batch_size, spec=spec, varlen=varlen, workers=3))
        want = list(tf.data.TFRecordDataset(files).batch(batch_size).map(lambda x: tf.io.parse_example(x, _tf_spec(varlen))))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert sorted(g) == sorted(w)
            for name in w:
                _same(g[name], w[name])


def test_native_source_shuffles_files_drops_remainder_and_repeats(files):
    spec = records.Spec.coerce(SPEC)
    ds = records.dataset(files, 32, spec=spec, features=["label"], shuffle_files=True, seed=5, drop_remainder=True)
    assert ds.element_spec["label"].shape.as_list() == [32]
    epochs = [np.concatenate([b["label"].numpy() for b in ds]) for _ in range(2)]
    for labels in epochs:
        assert len(labels) == 270 // 32 * 32
        firsts = [int(x) // 100 for x in labels[::90]]  # the files, in the order of this epoch
        assert sorted(set(firsts)) == [0, 1, 2]
    twice = np.concatenate([b["label"].numpy() for b in records.dataset(files, 50, spec=spec).repeat(2)])
    assert len(twice) == 540


def test_native_source_bad_record_names_file_record_and_offset(files, tmp_path):
    spec = records.Spec.coerce(SPEC)
    bad = str(tmp_path / "bad.tfrecord")
    with tf.io.TFRecordWriter(bad) as w:
        for i in range(10):
            w.write(b"\x0a\xff\xff" if i == 7 else _example(i))
    ds = records.dataset([files[0], bad], 16, spec=spec)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"bad\.tfrecord: record 7, byte offset \d+: .*malformed"):
        for _ in ds:
            pass
