"""Every tf.io feature kind written by tfforge from numpy / pandas / Arrow, parsed by TensorFlow with
``spec.to_tf()``, and read back by tfforge; specs round-trip through JSON and give the exact tf.io spec.
(TensorFlow-written records read by tfforge: tests/conformance/test_parsing_ops_conformance.py.)"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tfforge import records
from tfforge.errors import SpecError
from tfforge.records import Feature, Ragged, Spec, SparseTriple

tf = pytest.importorskip("tensorflow")
RF = tf.io.RaggedFeature


def _write_parse(tmp_path, data, spec=None, sequence=()):
    """Writes data with tfforge; returns (TensorFlow's parse of the records, tfforge's read, spec)."""
    path = str(tmp_path / "k.tfrecord")
    with records.Writer(path, spec=spec, sequence=sequence) as w:
        w.write(data)
    spec = w.spec
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(path)]
    tf_spec = spec.to_tf()
    if spec.has_sequence:
        ctx, lists, _ = tf.io.parse_sequence_example(serialized, **tf_spec)
        parsed = {**ctx, **lists}
    else:
        parsed = tf.io.parse_example(serialized, tf_spec)
    got = next(iter(records.read(path, spec=spec, batch_size=len(serialized))))
    return parsed, got, spec


def _same_ragged(tf_value, ours):
    assert isinstance(ours, Ragged)
    assert ours.tolist() == tf_value.to_list()
    for a, b in zip(ours.nested_row_splits, tf_value.nested_row_splits):
        np.testing.assert_array_equal(a, b.numpy())


def test_ragged_every_partition_written_and_parsed(tmp_path):
    rt = tf.ragged.constant([[[1.0], [2.0, 3.0]], [], [[4.0, 5.0, 6.0], [7.0]]])
    parts = {"row_splits": RF.RowSplits, "row_lengths": RF.RowLengths, "row_starts": RF.RowStarts,
             "row_limits": RF.RowLimits, "value_rowids": RF.ValueRowIds}
    feats = {kind: RF(tf.float32, value_key=f"v_{kind}", partitions=[make(f"p_{kind}")]) for kind, make in parts.items()}
    feats["uniform"] = RF(tf.int64, value_key="u", partitions=[RF.UniformRowLength(2)])
    spec = Spec.from_tf(feats)
    data = {k: Ragged.from_tf(rt) for k in parts}
    data["uniform"] = Ragged(np.arange(8).reshape(4, 2), [0, 1, 1, 4])  # dense inner dimension of 2
    parsed, got, _ = _write_parse(tmp_path, data, spec)
    for k in parts:
        _same_ragged(parsed[k], got[k])
        assert got[k].tolist() == rt.to_list()
    assert parsed["uniform"].to_list() == [[[0, 1]], [], [[2, 3], [4, 5], [6, 7]]]
    _same_ragged(parsed["uniform"], got["uniform"])


def test_nested_ragged_from_lists_and_inferred(tmp_path):
    nested = [[[[1], [2, 3]], [[4]]], [], [[[5, 6]]]]
    spec = Spec.from_tf({"n": RF(tf.int64, value_key="nv", partitions=[RF.RowLengths("l1"), RF.RowSplits("s2")],
                                 validate=True)})
    parsed, got, _ = _write_parse(tmp_path, {"n": nested}, spec)
    assert parsed["n"].to_list() == nested
    assert got["n"].tolist() == nested
    # Without a spec, a Ragged of several levels becomes a ragged feature with row_lengths partitions.
    parsed, got, inferred = _write_parse(tmp_path, {"n": Ragged.from_nested(nested, 3)})
    assert inferred["n"].type == "ragged" and len(inferred["n"].partitions) == 2
    assert parsed["n"].to_list() == nested and got["n"].tolist() == nested


def test_value_rowids_cannot_hold_trailing_empty_rows(tmp_path):
    spec = Spec.from_tf({"r": RF(tf.float32, value_key="v", partitions=[RF.ValueRowIds("ids")])})
    with pytest.raises(SpecError, match="value_rowids cannot hold"):
        records.Writer(str(tmp_path / "x.tfrecord"), spec=spec).write({"r": [[[1.0], []]]})


def test_sparse_and_varlen_from_triples(tmp_path):
    sp = SparseTriple(np.array([[0, 3, 1], [0, 0, 2], [2, 4, 0]]), np.array([1.5, 2.5, 3.5], np.float32),
                      np.array([3, 5, 3]))
    vl = SparseTriple(np.array([[0, 0], [0, 1], [2, 0]]), np.array([b"a", b"b", b"c"], object), np.array([3, 2]))
    spec = Spec.from_tf({"sp": tf.io.SparseFeature(["i0", "i1"], "val", tf.float32, [5, 3]),
                         "vl": tf.io.VarLenFeature(tf.string)})
    parsed, got, _ = _write_parse(tmp_path, {"sp": sp, "vl": vl}, spec)
    for k, triple in (("sp", sp), ("vl", vl)):
        order = np.lexsort(tuple(triple.indices[:, d] for d in range(triple.indices.shape[1] - 1, -1, -1)))
        for ours in (got[k], SparseTriple(parsed[k].indices.numpy(), parsed[k].values.numpy(),
                                          parsed[k].dense_shape.numpy())):
            np.testing.assert_array_equal(ours.indices, triple.indices[order])
            np.testing.assert_array_equal(ours.values, triple.values[order])
            np.testing.assert_array_equal(ours.dense_shape, triple.dense_shape)
    # A triple written without a spec: gapless rows make a varlen feature, others a sparse one.
    _, got, inferred = _write_parse(tmp_path, {"sp": sp, "vl": vl})
    assert inferred["vl"].type == "varlen" and inferred["sp"].type == "sparse"
    np.testing.assert_array_equal(got["sp"].dense_shape, [3, 5, 3])


def test_varlen_with_gaps_is_refused(tmp_path):
    spec = Spec.from_tf({"vl": tf.io.VarLenFeature(tf.int64)})
    gap = SparseTriple(np.array([[0, 1]]), np.array([7]), np.array([1, 2]))
    with pytest.raises(SpecError, match="positions 0..n-1"):
        records.Writer(str(tmp_path / "x.tfrecord"), spec=spec).write({"vl": gap})


def test_fixed_sequence_in_context_padded(tmp_path):
    spec = Spec.from_tf({"f": tf.io.FixedLenSequenceFeature([2], tf.float32, allow_missing=True, default_value=-1.0)})
    data = {"f": [np.array([[1, 2], [3, 4]]), None, [[5, 6]]]}
    parsed, got, _ = _write_parse(tmp_path, data, spec)
    expected = [[[1, 2], [3, 4]], [[-1, -1], [-1, -1]], [[5, 6], [-1, -1]]]
    np.testing.assert_array_equal(parsed["f"].numpy(), expected)
    np.testing.assert_array_equal(got["f"], expected)
    np.testing.assert_array_equal(got.lengths["f"], [2, 0, 1])


def test_sequence_example_from_pandas(tmp_path):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({
        "user": [b"u1", b"u2"],
        "clicks": [[[1, 2], [3, 4], [5, 6]], [[7, 8]]],                 # fixed steps of 2
        "words": [[["a", "b"], [], ["c"]], [["d", "e", "f"]]],           # variable steps
    })
    parsed, got, spec = _write_parse(tmp_path, df, sequence=["clicks", "words"])
    assert spec["clicks"].type == "fixed_sequence" and spec["clicks"].sequence
    assert spec["words"].type == "ragged" and spec["words"].sequence and spec["words"].dtype == "str"
    tf_spec = spec.to_tf()
    assert set(tf_spec) == {"context_features", "sequence_features"}
    assert tf_spec["sequence_features"]["clicks"] == tf.io.FixedLenSequenceFeature([2], tf.int64, allow_missing=True)
    np.testing.assert_array_equal(parsed["clicks"].numpy(), [[[1, 2], [3, 4], [5, 6]], [[7, 8], [0, 0], [0, 0]]])
    np.testing.assert_array_equal(got["clicks"], parsed["clicks"].numpy())
    assert parsed["words"].to_list() == [[[b"a", b"b"], [], [b"c"]], [[b"d", b"e", b"f"]]]
    assert got["words"].tolist() == [[["a", "b"], [], ["c"]], [["d", "e", "f"]]]
    assert list(got["user"]) == [b"u1", b"u2"]


def test_sequence_varlen_and_nested_ragged(tmp_path):
    spec = Spec.from_tf(context_features={"id": tf.io.FixedLenFeature([], tf.int64)}, sequence_features={
        "v": tf.io.VarLenFeature(tf.float32),
        "r": RF(tf.int64, value_key="rv", partitions=[RF.RowSplits("rs")]),
    })
    r = [[[[1], [2, 3]], [[4]]], [], [[[5, 6], []]]]  # rows -> steps -> partition rows -> values
    data = {"id": np.array([1, 2, 3]), "v": [[[1.0], [], [2.0, 3.0]], [], [[4.0]]], "r": r}
    parsed, got, _ = _write_parse(tmp_path, data, spec)
    assert parsed["r"].to_list() == r and got["r"].tolist() == r
    np.testing.assert_array_equal(got["v"].indices, parsed["v"].indices.numpy())
    np.testing.assert_array_equal(got["v"].dense_shape, parsed["v"].dense_shape.numpy())
    np.testing.assert_array_equal(got["id"], [1, 2, 3])


def test_arrow_nested_lists_as_sequence(tmp_path):
    pa = pytest.importorskip("pyarrow")
    table = pa.table({"steps": pa.array([[[1.0], [2.0, 3.0]], None, [[4.0]]], pa.list_(pa.list_(pa.float32())))})
    parsed, got, spec = _write_parse(tmp_path, table, sequence=["steps"])
    assert parsed["steps"].to_list() == [[[1.0], [2.0, 3.0]], [], [[4.0]]]
    assert got["steps"].tolist() == [[[1.0], [2.0, 3.0]], [], [[4.0]]]


def test_cli_convert_sequence_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    src = str(tmp_path / "s.parquet")
    pq.write_table(pa.table({"label": [0, 1], "frames": [[[1, 2], [3, 4]], [[5, 6]]]}), src)
    prefix = str(tmp_path / "out" / "ds")
    run = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "records", "convert", src, prefix,
                          "--sequence", "frames", "--no-progress"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    spec = records.spec(prefix)
    assert spec["frames"].sequence and spec["frames"].type == "fixed_sequence"
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(records.resolve_paths(prefix))]
    ctx, lists, lengths = tf.io.parse_sequence_example(serialized, **spec.to_tf())
    np.testing.assert_array_equal(lists["frames"].numpy(), [[[1, 2], [3, 4]], [[5, 6], [0, 0]]])
    np.testing.assert_array_equal(ctx["label"].numpy(), [0, 1])
    bad = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "records", "convert", src, prefix + "2",
                          "--sequence", "nope", "--no-progress"], capture_output=True, text=True)
    assert bad.returncode != 0 and "nope" in bad.stderr and "Traceback" not in bad.stderr


def test_spec_json_round_trip_and_exact_tf_spec(tmp_path):
    feats = {
        "fixed": tf.io.FixedLenFeature([2, 3], tf.float32, default_value=[0.5] * 6),
        "text": tf.io.FixedLenFeature([], tf.string, default_value=b"hi"),
        "vl": tf.io.VarLenFeature(tf.int64),
        "sp": tf.io.SparseFeature(["a", "b"], "sv", tf.float32, [4, 5], already_sorted=True),
        "rg": RF(tf.string, value_key="rv", partitions=[RF.UniformRowLength(2), RF.RowStarts("st"),
                                                        RF.ValueRowIds("ids")],
                 row_splits_dtype=tf.int32, validate=True),
        "fs": tf.io.FixedLenSequenceFeature([3], tf.int64, allow_missing=True, default_value=7),
    }
    spec = Spec.from_tf(feats)
    path = spec.save(str(tmp_path / "x.spec.json"))
    again = records.spec(path)
    assert again.features == spec.features
    assert again.to_tf() == feats
    seq = Spec.from_tf(context_features={"c": feats["fixed"]}, sequence_features={
        "s": tf.io.FixedLenSequenceFeature([2], tf.float32), "v": tf.io.VarLenFeature(tf.string),
        "r": RF(tf.float32, value_key="rv", partitions=[RF.RowLengths("rl")])})
    again = Spec.from_json(json.loads(json.dumps(seq.to_json())))
    assert again.features == seq.features
    assert again.to_tf() == {"context_features": {"c": feats["fixed"]},
                             "sequence_features": {"s": tf.io.FixedLenSequenceFeature([2], tf.float32),
                                                   "v": tf.io.VarLenFeature(tf.string),
                                                   "r": RF(tf.float32, value_key="rv",
                                                           partitions=[RF.RowLengths("rl")])}}


def test_encoder_fills_defaults_for_missing_values(tmp_path):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    spec = Spec({"x": Feature("float", (2,), default=[9, 8]), "n": Feature("int64", (), default=[-1]),
                 "s": Feature("bytes", (), default=["none"])})
    for data in ({"x": [[1, 2], None], "n": [5, None], "s": [b"a", None]},
                 pd.DataFrame({"x": [[1.0, 2.0], None], "n": pd.array([5, None], dtype="Int64"), "s": [b"a", None]}),
                 pa.table({"x": [[1.0, 2.0], None], "n": [5, None], "s": [b"a", None]})):
        parsed, got, _ = _write_parse(tmp_path, data, spec)
        np.testing.assert_array_equal(parsed["x"].numpy(), [[1, 2], [9, 8]])
        np.testing.assert_array_equal(got["x"], [[1, 2], [9, 8]])
        np.testing.assert_array_equal(got["n"], [5, -1])
        assert list(got["s"]) == [b"a", b"none"]
    with pytest.raises(SpecError, match="missing"):
        records.Writer(str(tmp_path / "y.tfrecord")).write({"n": [5, None]})


@pytest.mark.parametrize("call", [
    lambda p: records.Writer(p, compression=5),
    lambda p: records.write({"a": [1]}, p, shards="2"),
    lambda p: records.write({"a": [1]}, p, records_per_shard=1.5),
    lambda p: records.Writer(p, sequence=[3]),
    lambda p: records.Writer(p, spec={"a": {"kind": "int64", "type": "fixed", "shape": None}}),
    lambda p: records.Writer(p, spec={"a": {"kind": "int64", "shape": [2], "type": "fixd"}}),
    lambda p: Feature("int64", None, type="sparse", index_key=["i"], value_key="v", size=[1, 2]),
    lambda p: Feature("float", None, type="ragged", partitions=[("row_widths", "k")]),
    lambda p: Feature("float", (2,), type="fixed_sequence", default=[1, 2]),
])
def test_bad_arguments_raise_value_error(tmp_path, call):
    with pytest.raises(ValueError):
        call(str(tmp_path / "bad.tfrecord"))


def _random_nested(rng, depth, rows, allow_trailing_empty=True):
    def level(d):
        n = int(rng.integers(0, 4))
        if d == 0:
            return rng.integers(-5, 5, n).tolist()
        items = [level(d - 1) for _ in range(n)]
        if not allow_trailing_empty and items and not items[-1]:
            items[-1] = level(d - 1) or ([0] if d == 1 else [[0]])
        return items
    return [level(depth) for _ in range(rows)]


@pytest.mark.parametrize("kind", ["row_splits", "row_lengths", "row_starts", "row_limits", "value_rowids"])
def test_random_nested_partitions_round_trip(tmp_path, kind):
    make = {"row_splits": RF.RowSplits, "row_lengths": RF.RowLengths, "row_starts": RF.RowStarts,
            "row_limits": RF.RowLimits, "value_rowids": RF.ValueRowIds}[kind]
    rng = np.random.default_rng(7)
    for trial in range(4):
        # value_rowids cannot express a unit whose last row is empty: such data is not generated for it.
        data = _random_nested(rng, 2, 6, allow_trailing_empty=kind != "value_rowids")
        spec = Spec.from_tf({"r": RF(tf.int64, value_key="v", partitions=[make("p1"), make("p2")], validate=True)})
        parsed, got, _ = _write_parse(tmp_path, {"r": data}, spec)
        assert parsed["r"].to_list() == data, trial
        assert got["r"].tolist() == data and got["r"].flat_values.dtype == np.int64, trial
