"""Property tests: random schemas and values round-trip through tfforge (write -> read), through
TensorFlow's parser (tfforge write -> tf.io.parse_example) and from TensorFlow's writer into tfforge."""

import os
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tfforge.records as records

tf = pytest.importorskip("tensorflow")

INT64 = st.integers(-(2**63), 2**63 - 1)
FLOAT32 = st.floats(width=32, allow_nan=False)
BYTES = st.binary(max_size=40)
ELEMENT = {"int64": INT64, "float": FLOAT32, "bytes": BYTES}
NUMPY = {"int64": np.int64, "float": np.float32}


@st.composite
def datasets(draw):
    rows = draw(st.integers(1, 12))
    names = draw(st.lists(st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8), min_size=1, max_size=5,
                          unique=True))
    columns, features = {}, {}
    for name in names:
        kind = draw(st.sampled_from(["int64", "float", "bytes"]))
        shape = draw(st.sampled_from([(), (1,), (3,), (2, 2), None]))
        if shape is None:
            values = [draw(st.lists(ELEMENT[kind], max_size=5)) for _ in range(rows)]
            columns[name] = [np.array(v, dtype=NUMPY[kind]) if kind != "bytes" else v for v in values]
        else:
            count = int(np.prod(shape)) if shape else 1
            flat = draw(st.lists(ELEMENT[kind], min_size=rows * count, max_size=rows * count))
            if kind == "bytes":
                columns[name] = np.array(flat, dtype=object).reshape((rows,) + shape) if shape else flat
            else:
                columns[name] = np.array(flat, dtype=NUMPY[kind]).reshape((rows,) + shape)
        features[name] = records.Feature(kind, shape)
    return rows, columns, records.Spec(features)


def expected_rows(column, feature, rows):
    """Each row's values as a flat Python list."""
    if feature.varlen:
        return [list(np.asarray(r).tolist()) if not isinstance(r, list) else list(r) for r in column]
    arr = np.asarray(column, dtype=object if feature.kind == "bytes" else None).reshape(rows, -1)
    return [list(r) for r in arr.tolist()]


def got_rows(value, feature):
    if feature.varlen:
        return [list(r.tolist()) for r in value]
    return [list(r) for r in np.asarray(value).reshape(len(value), -1).tolist()]


SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(datasets(), st.sampled_from(["none", "gzip", "zlib"]), st.integers(1, 3))
@example((1, {"b": [[]]}, records.Spec({"b": records.Feature("bytes", None)})), "none", 1)  # found by hypothesis
def test_round_trip_through_tfforge_and_tensorflow(data, compression, shards):
    rows, columns, spec = data
    with tempfile.TemporaryDirectory() as d:
        prefix = os.path.join(d, "ds")
        paths = records.write(columns, prefix, spec=spec, shards=shards, compression=compression, progress=False)
        # tfforge reads it back
        (batch,) = list(records.read(prefix, batch_size=1000))
        for name, f in spec.items():
            assert got_rows(batch[name], f) == expected_rows(columns[name], f, rows), name
        # TensorFlow parses it
        tf_comp = {"none": None, "gzip": "GZIP", "zlib": "ZLIB"}[compression]
        raw = next(iter(tf.data.TFRecordDataset(paths, compression_type=tf_comp).batch(1000)))
        parsed = tf.io.parse_example(raw, records.spec(prefix).to_tf())
        for name, f in spec.items():
            value = parsed[name]
            got = value.to_list() if f.varlen else got_rows(value.numpy(), f)
            assert got == expected_rows(columns[name], f, rows), name


def tf_feature(kind, values):
    if kind == "int64":
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if kind == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


@SETTINGS
@given(datasets())
def test_tensorflow_written_examples_read_by_tfforge(data):
    rows, columns, spec = data
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tf.tfrecord")
        per_feature = {name: expected_rows(columns[name], f, rows) for name, f in spec.items()}
        with tf.io.TFRecordWriter(path) as w:
            for r in range(rows):
                feats = {name: tf_feature(f.kind, per_feature[name][r]) for name, f in spec.items()}
                w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())
        (batch,) = list(records.read(path, spec=spec, batch_size=1000))
        for name, f in spec.items():
            assert got_rows(batch[name], f) == per_feature[name], name
