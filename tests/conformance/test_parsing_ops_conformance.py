"""TensorFlow's own Example / SequenceExample parsing cases, run against tfforge.records.

A port of tensorflow/python/kernel_tests/io_ops/parsing_ops_test.py (classes ParseExampleTest,
ParseSingleExampleTest and ParseSequenceExampleTest): each test below names the upstream test method
it ports, builds the upstream serialized inputs with TensorFlow's protos, and checks the upstream
expected outputs (or that the record is rejected) twice: with live TensorFlow (tf.io.parse_example /
parse_single_example / parse_sequence_example, the second oracle) and with tfforge (the records are
written to a TFRecord file and read back through ``records.read`` with ``Spec.from_tf`` of the same
tf.io features). tfforge's errors must name the file and the record.

Where tfforge deliberately differs, the test says so (see docs/records.md, "Compatibility with
TensorFlow"):
- tfforge reads in batches, so parse_single_example cases compare the batch's first row;
- partitions of a RaggedFeature are always checked against the values (TensorFlow only with
  validate=True), and row_splits come back as int64 whatever row_splits_dtype says.
"""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from tensorflow.core.example import example_pb2, feature_pb2  # noqa: E402

from tfforge import records  # noqa: E402
from tfforge.errors import CorruptRecordError, SpecError  # noqa: E402
from tfforge.records import Ragged, Spec, SparseTriple  # noqa: E402

UPSTREAM = "tensorflow/python/kernel_tests/io_ops/parsing_ops_test.py"

# Builders for the upstream inputs (the same protos the upstream test builds).
example = example_pb2.Example
sequence_example = example_pb2.SequenceExample
feature = feature_pb2.Feature


def features(d):
    return feature_pb2.Features(feature=d)


def bytes_feature(v):
    return feature(bytes_list=feature_pb2.BytesList(value=v))


def int64_feature(v):
    return feature(int64_list=feature_pb2.Int64List(value=v))


def float_feature(v):
    return feature(float_list=feature_pb2.FloatList(value=v))


def feature_list(items):
    return feature_pb2.FeatureList(feature=items)


def feature_lists(d):
    return feature_pb2.FeatureLists(feature_list=d)


ragged = tf.ragged.constant
io = tf.io
RF = tf.io.RaggedFeature


# --- running both parsers ----------------------------------------------------------------------------

def _tfforge(tmp_path, serialized, spec, **read_args):
    path = str(tmp_path / "case.tfrecord")
    with records.Writer(path) as w:
        for s in serialized:
            w.write_serialized(s)
    batches = list(records.read(path, spec=spec, batch_size=max(1, len(serialized)), **read_args))
    assert len(batches) == 1
    return batches[0], path


def _numpy(v):
    if isinstance(v, tf.SparseTensor):
        return SparseTriple(v.indices.numpy(), v.values.numpy(), v.dense_shape.numpy())
    if isinstance(v, tf.RaggedTensor):
        return Ragged.from_tf(v)
    return np.asarray(v)


def _same(got, expected, what):
    """got (tfforge or TensorFlow as numpy) equals the upstream expectation."""
    if isinstance(expected, tuple) and len(expected) == 3:
        assert isinstance(got, SparseTriple), what
        np.testing.assert_array_equal(got.indices, expected[0], err_msg=f"{what} indices")
        np.testing.assert_array_equal(got.values, np.asarray(expected[1]), err_msg=f"{what} values")
        np.testing.assert_array_equal(got.dense_shape, expected[2], err_msg=f"{what} dense_shape")
        return
    if isinstance(expected, tf.RaggedTensor):
        assert isinstance(got, Ragged), what
        assert got.tolist() == expected.to_list(), what
        for a, b in zip(got.nested_row_splits, expected.nested_row_splits):
            np.testing.assert_array_equal(a, b.numpy(), err_msg=f"{what} row_splits")
        np.testing.assert_array_equal(got.flat_values, expected.flat_values.numpy(), err_msg=f"{what} flat values")
        return
    if isinstance(got, Ragged):
        got = got.tolist()
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected), err_msg=what)


def _same_dict(got, expected, who):
    assert set(got) == set(expected), who
    for k, v in expected.items():
        _same(_numpy(got[k]) if who == "tensorflow" else got[k], v, f"{who}: {k}")


def check_example(tmp_path, serialized, feats, expected=None, tf_error=None, ff_error=None):
    """parse_example of `serialized` with `feats` gives `expected` (or fails) in TensorFlow and tfforge."""
    if tf_error is not None:
        with pytest.raises((tf.errors.OpError, ValueError), match=tf_error):
            tf.io.parse_example(tf.constant(serialized), feats)
        with pytest.raises((SpecError, CorruptRecordError), match=ff_error) as e:
            _tfforge(tmp_path, serialized, Spec.from_tf(feats))
        if e.value.record is not None:
            assert e.value.path.endswith("case.tfrecord")
        return
    _same_dict(tf.io.parse_example(tf.constant(serialized), feats), expected, "tensorflow")
    got, _ = _tfforge(tmp_path, serialized, Spec.from_tf(feats))
    _same_dict(got, expected, "tfforge")


def _first_row(v):
    """Row 0 of a batched tfforge column, as parse_single_example returns it."""
    if isinstance(v, SparseTriple):
        keep = v.indices[:, 0] == 0
        return SparseTriple(v.indices[keep][:, 1:], v.values[keep], v.dense_shape[1:])
    return v[0]


def check_single_example(tmp_path, serialized, feats, expected):
    """parse_single_example: TensorFlow directly; tfforge (which reads batches) by its batch's row 0."""
    _same_dict(tf.io.parse_single_example(tf.constant(serialized), feats), expected, "tensorflow")
    got, _ = _tfforge(tmp_path, [serialized], Spec.from_tf(feats))
    _same_dict({k: _first_row(v) for k, v in got.items()}, expected, "tfforge")


def check_sequence(tmp_path, serialized, context=None, sequence=None, expected_context=None,
                   expected_lists=None, expected_lengths=None, tf_error=None, ff_error=None):
    """parse_sequence_example (batched) gives the expected outputs in TensorFlow and tfforge."""
    context, sequence = context or {}, sequence or {}
    spec_args = dict(context_features=context, sequence_features=sequence)
    if tf_error is not None:
        with pytest.raises((tf.errors.OpError, ValueError), match=tf_error):
            tf.io.parse_sequence_example(tf.constant(serialized), **spec_args)
        with pytest.raises((SpecError, CorruptRecordError), match=ff_error) as e:
            _tfforge(tmp_path, serialized, Spec.from_tf(**spec_args))
        if e.value.record is not None:
            assert e.value.path.endswith("case.tfrecord")
        return
    ctx, lists, lengths = tf.io.parse_sequence_example(tf.constant(serialized), **spec_args)
    _same_dict(ctx, expected_context or {}, "tensorflow")
    _same_dict(lists, expected_lists or {}, "tensorflow")
    _same_dict(lengths, expected_lengths or {}, "tensorflow")
    got, _ = _tfforge(tmp_path, serialized, Spec.from_tf(**spec_args))
    _same_dict({k: v for k, v in got.items() if k in context}, expected_context or {}, "tfforge")
    _same_dict({k: v for k, v in got.items() if k in sequence}, expected_lists or {}, "tfforge")
    _same_dict(got.lengths, expected_lengths or {}, "tfforge")


def _batch1_sparse(v):
    """The upstream _testBoth transform of a single-example sparse expectation into a batch of one."""
    return (np.insert(v[0], 0, 0, axis=1), v[1], np.insert(v[2], 0, 1))


# --- ParseExampleTest -----------------------------------------------------------------------------------

def test_empty_serialized_with_all_defaults(tmp_path):
    """ParseExampleTest.testEmptySerializedWithAllDefaults"""
    a_default, b_default = [0, 42, 0], np.random.rand(3, 3).astype(bytes)
    c_default = np.random.rand(2).astype(np.float32)
    expected = {
        "st_a": (np.empty((0, 2), np.int64), np.empty((0,), np.int64), np.array([2, 0], np.int64)),
        "a": np.array(2 * [[a_default]]), "b": np.array(2 * [b_default]), "c:has_a_tricky_name": np.array(2 * [c_default]),
    }
    feats = {
        "st_a": io.VarLenFeature(tf.int64),
        "a": io.FixedLenFeature((1, 3), tf.int64, default_value=a_default),
        "b": io.FixedLenFeature((3, 3), tf.string, default_value=b_default),
        "c:has_a_tricky_name": io.FixedLenFeature((2,), tf.float32, default_value=c_default),
    }
    check_example(tmp_path, [b"", b""], feats, expected)


def test_empty_serialized_without_defaults_should_fail(tmp_path):
    """ParseExampleTest.testEmptySerializedWithoutDefaultsShouldFail"""
    feats = {
        "st_a": io.VarLenFeature(tf.int64),
        "a": io.FixedLenFeature((1, 3), tf.int64, default_value=[0, 42, 0]),
        "b": io.FixedLenFeature((3, 3), tf.string, default_value=np.random.rand(3, 3).astype(bytes)),
        "c": io.FixedLenFeature((2,), dtype=tf.float32),
    }
    # The key is there but the feature value is empty.
    original = example(features=features({"c": feature()}))
    check_example(tmp_path, [original.SerializeToString()], feats,
                  tf_error=r"Feature: c \(data type: float\) is required",
                  ff_error=r"record 0.*feature 'c' \(float\) is missing \(its Feature holds no list\)")
    check_example(tmp_path, [b"", b""], feats, tf_error=r"Feature: c \(data type: float\) is required",
                  ff_error=r"record 0.*feature 'c' \(float\) is missing and the spec gives no default")


def test_dense_not_matching_shape_should_fail(tmp_path):
    """ParseExampleTest.testDenseNotMatchingShapeShouldFail"""
    original = [example(features=features({"a": float_feature([1, 1, 3])})),
                example(features=features({"a": float_feature([-1, -1])}))]
    check_example(tmp_path, [m.SerializeToString() for m in original],
                  {"a": io.FixedLenFeature((1, 3), tf.float32)},
                  tf_error=r"Key: a, Index: 1.  Number of float val",
                  ff_error=r"record 1, byte offset \d+: feature 'a' has 2 values where the spec says 3")


def test_dense_default_no_shape_should_fail(tmp_path):
    """ParseExampleTest.testDenseDefaultNoShapeShouldFail"""
    serialized = [example(features=features({"a": float_feature([1, 1, 3])})).SerializeToString()]
    feats = {"a": io.FixedLenFeature(None, tf.float32)}
    with pytest.raises(ValueError, match="Missing shape for feature a"):
        tf.io.parse_example(serialized, feats)
    with pytest.raises(SpecError, match="needs a shape"):
        Spec.from_tf(feats)


def test_serialized_containing_sparse(tmp_path):
    """ParseExampleTest.testSerializedContainingSparse"""
    original = [
        example(features=features({"st_c": float_feature([3, 4])})),
        example(features=features({"st_c": float_feature([])})),
        example(features=features({"st_d": feature()})),
        example(features=features({"st_c": float_feature([1, 2, -1]), "st_d": bytes_feature([b"hi"])})),
    ]
    expected = {
        "st_c": (np.array([[0, 0], [0, 1], [3, 0], [3, 1], [3, 2]]), np.array([3.0, 4.0, 1.0, 2.0, -1.0], np.float32),
                 np.array([4, 3])),
        "st_d": (np.array([[3, 0]]), np.array([b"hi"]), np.array([4, 1])),
    }
    check_example(tmp_path, [m.SerializeToString() for m in original],
                  {"st_c": io.VarLenFeature(tf.float32), "st_d": io.VarLenFeature(tf.string)}, expected)


def test_serialized_containing_sparse_feature(tmp_path):
    """ParseExampleTest.testSerializedContainingSparseFeature"""
    original = [
        example(features=features({"val": float_feature([3, 4]), "idx": int64_feature([5, 10])})),
        example(features=features({"val": float_feature([]), "idx": int64_feature([])})),
        example(features=features({"val": feature()})),
        example(features=features({"val": float_feature([1, 2, -1]), "idx": int64_feature([0, 9, 3])})),
    ]
    expected = {"sp": (np.array([[0, 5], [0, 10], [3, 0], [3, 3], [3, 9]]),
                       np.array([3.0, 4.0, 1.0, -1.0, 2.0], np.float32), np.array([4, 13]))}
    check_example(tmp_path, [m.SerializeToString() for m in original],
                  {"sp": io.SparseFeature(["idx"], "val", tf.float32, [13])}, expected)


def test_serialized_containing_sparse_feature_reuse(tmp_path):
    """ParseExampleTest.testSerializedContainingSparseFeatureReuse"""
    original = [
        example(features=features({"val1": float_feature([3, 4]), "val2": float_feature([5, 6]),
                                   "idx": int64_feature([5, 10])})),
        example(features=features({"val1": float_feature([]), "idx": int64_feature([])})),
    ]
    expected = {
        "sp1": (np.array([[0, 5], [0, 10]]), np.array([3.0, 4.0], np.float32), np.array([2, 13])),
        "sp2": (np.array([[0, 5], [0, 10]]), np.array([5.0, 6.0], np.float32), np.array([2, 7])),
    }
    check_example(tmp_path, [m.SerializeToString() for m in original], {
        "sp1": io.SparseFeature("idx", "val1", tf.float32, 13),
        "sp2": io.SparseFeature("idx", "val2", tf.float32, size=7, already_sorted=True),
    }, expected)


def test_serialized_containing_3d_sparse_feature(tmp_path):
    """ParseExampleTest.testSerializedContaining3DSparseFeature"""
    original = [
        example(features=features({"val": float_feature([3, 4]), "idx0": int64_feature([5, 10]),
                                   "idx1": int64_feature([0, 2])})),
        example(features=features({"val": float_feature([]), "idx0": int64_feature([]), "idx1": int64_feature([])})),
        example(features=features({"val": feature()})),
        example(features=features({"val": float_feature([1, 2, -1]), "idx0": int64_feature([0, 9, 3]),
                                   "idx1": int64_feature([1, 0, 2])})),
    ]
    expected = {"sp": (np.array([[0, 5, 0], [0, 10, 2], [3, 0, 1], [3, 3, 2], [3, 9, 0]]),
                       np.array([3.0, 4.0, 1.0, -1.0, 2.0], np.float32), np.array([4, 13, 3]))}
    check_example(tmp_path, [m.SerializeToString() for m in original],
                  {"sp": io.SparseFeature(["idx0", "idx1"], "val", tf.float32, [13, 3])}, expected)


def _dense_feats(aname, bname):
    return {aname: io.FixedLenFeature((1, 2, 1), dtype=tf.float32),
            bname: io.FixedLenFeature((1, 1, 1, 1), dtype=tf.string)}


def test_serialized_containing_dense(tmp_path):
    """ParseExampleTest.testSerializedContainingDense"""
    aname, bname = "a", "b*has+a:tricky_name"
    original = [example(features=features({aname: float_feature([1, 1]), bname: bytes_feature([b"b0_str"])})),
                example(features=features({aname: float_feature([-1, -1]), bname: bytes_feature([b""])}))]
    expected = {aname: np.array([[1, 1], [-1, -1]], np.float32).reshape(2, 1, 2, 1),
                bname: np.array([b"b0_str", b""]).reshape(2, 1, 1, 1, 1)}
    check_example(tmp_path, [m.SerializeToString() for m in original], _dense_feats(aname, bname), expected)


def test_serialized_containing_dense_with_concat(tmp_path):
    """ParseExampleTest.testSerializedContainingDenseWithConcat: two Examples concatenated; a key given
    twice takes its last value."""
    aname, bname = "a", "b*has+a:tricky_name"
    original = [
        (example(features=features({aname: float_feature([10, 10])})),
         example(features=features({aname: float_feature([1, 1]), bname: bytes_feature([b"b0_str"])}))),
        (example(features=features({bname: bytes_feature([b"b100"])})),
         example(features=features({aname: float_feature([-1, -1]), bname: bytes_feature([b"b1"])}))),
    ]
    expected = {aname: np.array([[1, 1], [-1, -1]], np.float32).reshape(2, 1, 2, 1),
                bname: np.array([b"b0_str", b"b1"]).reshape(2, 1, 1, 1, 1)}
    check_example(tmp_path, [m.SerializeToString() + n.SerializeToString() for m, n in original],
                  _dense_feats(aname, bname), expected)


def test_serialized_containing_dense_scalar(tmp_path):
    """ParseExampleTest.testSerializedContainingDenseScalar"""
    original = [example(features=features({"a": float_feature([1])})), example(features=features({}))]
    check_example(tmp_path, [m.SerializeToString() for m in original],
                  {"a": io.FixedLenFeature((1,), dtype=tf.float32, default_value=-1)},
                  {"a": np.array([[1], [-1]], np.float32)})


def test_serialized_containing_dense_with_defaults(tmp_path):
    """ParseExampleTest.testSerializedContainingDenseWithDefaults"""
    original = [example(features=features({"a": float_feature([1, 1])})),
                example(features=features({"b": bytes_feature([b"b1"])})),
                example(features=features({"b": feature()}))]
    expected = {"a": np.array([[1, 1], [3, -3], [3, -3]], np.float32).reshape(3, 1, 2, 1),
                "b": np.array([b"tmp_str", b"b1", b"tmp_str"]).reshape(3, 1, 1, 1, 1)}
    check_example(tmp_path, [m.SerializeToString() for m in original], {
        "a": io.FixedLenFeature((1, 2, 1), dtype=tf.float32, default_value=[3.0, -3.0]),
        "b": io.FixedLenFeature((1, 1, 1, 1), dtype=tf.string, default_value="tmp_str"),
    }, expected)


def test_serialized_containing_sparse_and_sparse_feature_and_dense_with_no_default(tmp_path):
    """ParseExampleTest.testSerializedContainingSparseAndSparseFeatureAndDenseWithNoDefault"""
    original = [
        example(features=features({"c": float_feature([3, 4]), "val": bytes_feature([b"a", b"b"]),
                                   "idx": int64_feature([0, 3])})),
        example(features=features({"c": float_feature([1, 2]), "val": bytes_feature([b"c"]),
                                   "idx": int64_feature([7])})),
    ]
    a_default, b_default = [1, 2, 3], np.random.rand(3, 3).astype(bytes)
    expected = {
        "st_a": (np.empty((0, 2), np.int64), np.empty((0,), np.int64), np.array([2, 0])),
        "sp": (np.array([[0, 0], [0, 3], [1, 7]]), np.array([b"a", b"b", b"c"]), np.array([2, 13])),
        "a": np.array(2 * [[a_default]]), "b": np.array(2 * [b_default]),
        "c": np.array([[3, 4], [1, 2]], np.float32),
    }
    check_example(tmp_path, [m.SerializeToString() for m in original], {
        "st_a": io.VarLenFeature(tf.int64),
        "sp": io.SparseFeature("idx", "val", tf.string, 13),
        "a": io.FixedLenFeature((1, 3), tf.int64, default_value=a_default),
        "b": io.FixedLenFeature((3, 3), tf.string, default_value=b_default),
        "c": io.FixedLenFeature((2,), tf.float32),
    }, expected)


def test_serialized_containing_sparse_and_sparse_feature_with_reuse(tmp_path):
    """ParseExampleTest.testSerializedContainingSparseAndSparseFeatureWithReuse"""
    original = [
        example(features=features({"val": bytes_feature([b"a", b"b"]), "idx": int64_feature([0, 3])})),
        example(features=features({"val": bytes_feature([b"c", b"d"]), "idx": int64_feature([7, 1])})),
    ]
    expected = {
        "idx": (np.array([[0, 0], [0, 1], [1, 0], [1, 1]]), np.array([0, 3, 7, 1]), np.array([2, 2])),
        "sp": (np.array([[0, 0], [0, 3], [1, 1], [1, 7]]), np.array([b"a", b"b", b"d", b"c"]), np.array([2, 13])),
    }
    check_example(tmp_path, [m.SerializeToString() for m in original], {
        "idx": io.VarLenFeature(tf.int64), "sp": io.SparseFeature(["idx"], "val", tf.string, [13])}, expected)


@pytest.mark.parametrize("batch_size", [1, 10, 20, 100, 256])
def test_serialized_containing_var_len_dense_larger_batch(tmp_path, batch_size):
    """ParseExampleTest.testSerializedContainingVarLenDenseLargerBatch (_testSerializedContainingVarLenDenseLargerBatch)"""
    rng = np.random.RandomState(3456 + batch_size)
    truth_int = list(range(batch_size))
    truth_str = [[f"foo{i}".encode(), f"bar{i}".encode()] for i in range(batch_size)]
    expected_str = [list(r) for r in truth_str]
    for i in range(1, batch_size):
        col = 1
        if rng.rand() < 0.25:
            expected_str[i][col] = b"default"
            col -= 1
            truth_str[i].pop()
        if rng.rand() < 0.25:
            expected_str[i][col] = b"default"
            truth_str[i].pop()
    expected = {"a": np.array(truth_int, np.int64).reshape(batch_size, 1),
                "b": np.array(expected_str, dtype="|S").reshape(batch_size, 2)}
    original = [example(features=features({"a": int64_feature([truth_int[i]]), "b": bytes_feature(truth_str[i])}))
                for i in range(batch_size)]
    check_example(tmp_path, [m.SerializeToString() for m in original], {
        "a": io.FixedLenSequenceFeature(shape=(), dtype=tf.int64, allow_missing=True, default_value=-1),
        "b": io.FixedLenSequenceFeature(shape=[], dtype=tf.string, allow_missing=True, default_value="default"),
    }, expected)


def _var_len_dense_input():
    original = [
        example(features=features({"c": int64_feature([2])})),
        example(features=features({"a": float_feature([1, 1]), "b": bytes_feature([b"b0_str", b"b1_str"])})),
        example(features=features({"a": float_feature([-1, -1, 2, 2]), "b": bytes_feature([b"b1"])})),
        example(features=features({"a": float_feature([]), "c": int64_feature([3])})),
    ]
    return [m.SerializeToString() for m in original]


def _var_len_dense_feats(a_default=None, c_allow_missing=True):
    return {
        "a": io.FixedLenSequenceFeature((2, 1), dtype=tf.float32, allow_missing=True, default_value=a_default),
        "b": io.FixedLenSequenceFeature((1, 1, 1), dtype=tf.string, allow_missing=True),
        "c": io.FixedLenSequenceFeature(shape=[], dtype=tf.int64, allow_missing=c_allow_missing),
        "d": io.FixedLenSequenceFeature(shape=[], dtype=tf.string, allow_missing=True),
    }


def test_serialized_containing_var_len_dense(tmp_path):
    """ParseExampleTest.testSerializedContainingVarLenDense: padding, custom padding."""
    expected = {
        "a": np.array([[0, 0, 0, 0], [1, 1, 0, 0], [-1, -1, 2, 2], [0, 0, 0, 0]], np.float32).reshape(4, 2, 2, 1),
        "b": np.array([[b"", b""], [b"b0_str", b"b1_str"], [b"b1", b""], [b"", b""]]).reshape(4, 2, 1, 1, 1),
        "c": np.array([2, 0, 0, 3], np.int64).reshape(4, 1),
        "d": np.empty(shape=(4, 0), dtype=bytes),
    }
    check_example(tmp_path, _var_len_dense_input(), _var_len_dense_feats(), expected)
    expected["a"] = np.array([[-2, -2, -2, -2], [1, 1, -2, -2], [-1, -1, 2, 2], [-2, -2, -2, -2]],
                             np.float32).reshape(4, 2, 2, 1)
    check_example(tmp_path, _var_len_dense_input(), _var_len_dense_feats(a_default=-2.0), expected)


def test_serialized_containing_var_len_dense_errors(tmp_path):
    """ParseExampleTest.testSerializedContainingVarLenDense: the failing variants."""
    serialized = _var_len_dense_input()
    feats = {"a": io.FixedLenSequenceFeature((2, 1), dtype=tf.float32, allow_missing=True),
             "b": io.FixedLenSequenceFeature((2, 1, 1), dtype=tf.string, allow_missing=True)}
    check_example(tmp_path, serialized, feats,
                  tf_error="Key: b, Index: 2.  Number of bytes values is not a multiple of stride length.",
                  ff_error=r"record 2, byte offset \d+: feature 'b' has 1 bytes values, not a multiple of the 2")
    feats["a"] = io.FixedLenSequenceFeature((2, 1), dtype=tf.float32, allow_missing=True, default_value=[])
    # Upstream (graph mode): ValueError "Cannot reshape a tensor with 0 elements"; eagerly TensorFlow
    # raises InvalidArgumentError from the same reshape.
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="reshape"):
        tf.io.parse_example(serialized, feats)
    with pytest.raises(SpecError, match="default is one padding value"):
        Spec.from_tf(feats)
    feats["a"] = io.FixedLenFeature((None, 2, 1), dtype=tf.float32)
    with pytest.raises(ValueError, match="First dimension of shape for feature a unknown"):
        tf.io.parse_example(serialized, feats)
    with pytest.raises(SpecError, match="shape must be"):
        Spec.from_tf(feats)
    feats = {"c": io.FixedLenFeature((1, None), dtype=tf.int64, default_value=[[1]])}
    with pytest.raises(ValueError, match="All dimensions of shape for feature c need to be known"):
        tf.io.parse_example(serialized, feats)
    with pytest.raises(SpecError, match="shape must be"):
        Spec.from_tf(feats)
    feats = _var_len_dense_feats(c_allow_missing=False)
    with pytest.raises(ValueError, match="Unsupported: FixedLenSequenceFeature requires allow_missing to be True."):
        tf.io.parse_example(serialized, feats)
    with pytest.raises(SpecError, match="needs allow_missing"):
        _tfforge(tmp_path, serialized, Spec.from_tf(feats))


def _ragged_no_partitions_input():
    original = [
        example(features=features({"rt_c": float_feature([3, 4])})),
        example(features=features({"rt_c": float_feature([])})),
        example(features=features({"rt_d": feature()})),
        example(features=features({"rt_c": float_feature([1, 2, -1]), "rt_d": bytes_feature([b"hi"])})),
    ]
    return [m.SerializeToString() for m in original]


def test_serialized_containing_ragged_feature_with_no_partitions(tmp_path):
    """ParseExampleTest.testSerializedContainingRaggedFeatureWithNoPartitions (and its 64x batch)"""
    feats = {"rt_c": RF(dtype=tf.float32), "rt_d": RF(dtype=tf.string, row_splits_dtype=tf.int64)}
    rt_c = ragged([[3.0, 4.0], [], [], [1.0, 2.0, -1.0]], dtype=tf.float32, row_splits_dtype=tf.int32)
    rt_d = ragged([[], [], [], [b"hi"]])
    check_example(tmp_path, _ragged_no_partitions_input(), feats, {"rt_c": rt_c, "rt_d": rt_d})
    check_example(tmp_path, _ragged_no_partitions_input() * 64, feats,
                  {"rt_c": tf.concat([rt_c] * 64, axis=0), "rt_d": tf.concat([rt_d] * 64, axis=0)})


def test_serialized_containing_ragged_feature(tmp_path):
    """ParseExampleTest.testSerializedContainingRaggedFeature: every partition kind"""
    original = [
        example(features=features({
            "rt_values": float_feature([3, 4, 5, 6]), "rt_splits": int64_feature([0, 1, 4]),
            "rt_lengths": int64_feature([1, 3]), "rt_starts": int64_feature([0, 1]),
            "rt_limits": int64_feature([1, 4]), "rt_rowids": int64_feature([0, 1, 1, 1])})),
        example(features=features({
            "rt_values": float_feature([]), "rt_splits": int64_feature([0]), "rt_lengths": int64_feature([]),
            "rt_starts": int64_feature([]), "rt_limits": int64_feature([]), "rt_rowids": int64_feature([])})),
        example(features=features({
            "rt_values": feature(), "rt_splits": int64_feature([0]), "rt_lengths": feature(),
            "rt_starts": feature(), "rt_limits": feature(), "rt_rowids": feature()})),
        example(features=features({
            "rt_values": float_feature([1, 2, -1, 8, 9, 5]), "rt_splits": int64_feature([0, 3, 3, 5, 6]),
            "rt_lengths": int64_feature([3, 0, 2, 1]), "rt_starts": int64_feature([0, 3, 3, 5]),
            "rt_limits": int64_feature([3, 3, 5, 6]), "rt_rowids": int64_feature([0, 0, 0, 2, 2, 3])})),
    ]
    feats = {
        "rt1": RF(value_key="rt_values", partitions=[RF.RowSplits("rt_splits")], dtype=tf.float32),
        "rt2": RF(value_key="rt_values", partitions=[RF.RowLengths("rt_lengths")], dtype=tf.float32),
        "rt3": RF(value_key="rt_values", partitions=[RF.RowStarts("rt_starts")], dtype=tf.float32),
        "rt4": RF(value_key="rt_values", partitions=[RF.RowLimits("rt_limits")], dtype=tf.float32),
        "rt5": RF(value_key="rt_values", partitions=[RF.ValueRowIds("rt_rowids")], dtype=tf.float32),
        "uniform1": RF(value_key="rt_values", partitions=[RF.UniformRowLength(2)], dtype=tf.float32),
        "uniform2": RF(value_key="rt_values", partitions=[RF.UniformRowLength(2), RF.RowSplits("rt_splits")],
                       dtype=tf.float32),
    }
    rt = ragged([[[3], [4, 5, 6]], [], [], [[1, 2, -1], [], [8, 9], [5]]], dtype=tf.float32,
                row_splits_dtype=tf.int32)
    expected = {
        "rt1": rt, "rt2": rt, "rt3": rt, "rt4": rt, "rt5": rt,
        "uniform1": ragged([[[3, 4], [5, 6]], [], [], [[1, 2], [-1, 8], [9, 5]]], ragged_rank=1, dtype=tf.float32,
                           row_splits_dtype=tf.int32),
        "uniform2": ragged([[[[3], [4, 5, 6]]], [], [], [[[1, 2, -1], []], [[8, 9], [5]]]], dtype=tf.float32,
                           row_splits_dtype=tf.int32),
    }
    check_example(tmp_path, [m.SerializeToString() for m in original], feats, expected)


def test_serialized_containing_nested_ragged_feature(tmp_path):
    """ParseExampleTest.testSerializedContainingNestedRaggedFeature: three partitions"""
    original = [
        example(features=features({
            "rt_values": float_feature([1, 2, 3, 4, 5, 6, 7]), "lengths_axis2": int64_feature([1, 2, 0, 1]),
            "lengths_axis3": int64_feature([1, 2, 1, 3]), "splits_axis3": int64_feature([0, 1, 3, 4, 7])})),
        example(features=features({
            "rt_values": float_feature([1, 2, 3, 4, 5, 6, 7, 8]), "lengths_axis2": int64_feature([2, 3]),
            "lengths_axis3": int64_feature([3, 1, 1, 1, 2]), "splits_axis3": int64_feature([0, 3, 4, 5, 6, 8])})),
    ]
    feats = {"rt1": RF(value_key="rt_values", partitions=[
        RF.UniformRowLength(2), RF.RowLengths("lengths_axis2"), RF.RowSplits("splits_axis3")],
        dtype=tf.float32, row_splits_dtype=tf.int64)}
    expected = {"rt1": ragged([[[[[1]], [[2, 3], [4]]], [[], [[5, 6, 7]]]],
                               [[[[1, 2, 3], [4]], [[5], [6], [7, 8]]]]], dtype=tf.float32, row_splits_dtype=tf.int64)}
    check_example(tmp_path, [m.SerializeToString() for m in original], feats, expected)


def test_serialized_containing_misaligned_ragged_feature_row_lengths(tmp_path):
    """ParseExampleTest.testSerializedContainingMisalignedRaggedFeatureRowLengths"""
    original = [
        example(features=features({"rt_values": float_feature([]), "rt_lengths": int64_feature([5])})),
        example(features=features({"rt_values": float_feature([1.0, 2.0, 3.0, 4.0, 5.0]),
                                   "rt_lengths": int64_feature([])})),
    ]
    feats = {"rt": RF(value_key="rt_values", partitions=[RF.RowLengths("rt_lengths")], dtype=tf.float32,
                      validate=True)}
    serialized = [m.SerializeToString() for m in original]
    # Deliberate difference from the TensorFlow installed here: upstream expects "values and partitions
    # are not aligned", a check newer than TF 2.21, which returns the batch's values re-partitioned
    # across examples (row 0 takes row 1's five values). tfforge rejects it, as upstream does; its
    # lenient mode gives TF 2.21's result for features without validate.
    rt = tf.io.parse_example(serialized, feats)["rt"]
    assert rt.to_list() == [[[1.0, 2.0, 3.0, 4.0, 5.0]], []]
    with pytest.raises(SpecError, match=r"case.tfrecord, record 0: Feature rt: values and partitions are not aligned"):
        _tfforge(tmp_path, serialized, Spec.from_tf(feats))
    unvalidated = {"rt": RF(value_key="rt_values", partitions=[RF.RowLengths("rt_lengths")], dtype=tf.float32)}
    got, _ = _tfforge(tmp_path, serialized, Spec.from_tf(unvalidated), strict=False)
    assert got["rt"].tolist() == tf.io.parse_example(serialized, unvalidated)["rt"].to_list()


# --- ParseSingleExampleTest -----------------------------------------------------------------------------

def test_single_example_with_sparse_and_sparse_feature_and_dense(tmp_path):
    """ParseSingleExampleTest.testSingleExampleWithSparseAndSparseFeatureAndDense"""
    original = example(features=features({
        "c": float_feature([3, 4]), "d": float_feature([0.0, 1.0]), "val": bytes_feature([b"a", b"b"]),
        "idx": int64_feature([0, 3]), "st_a": float_feature([3.0, 4.0])}))
    a_default, b_default = [1, 2, 3], np.random.rand(3, 3).astype(bytes)
    feats = {
        "st_a": io.VarLenFeature(tf.float32),
        "sp": io.SparseFeature(["idx"], "val", tf.string, [13]),
        "a": io.FixedLenFeature((1, 3), tf.int64, default_value=a_default),
        "b": io.FixedLenFeature((3, 3), tf.string, default_value=b_default),
        "c": io.FixedLenFeature(2, tf.float32),
        "d": io.FixedLenSequenceFeature([], tf.float32, allow_missing=True),
    }
    expected = {
        "st_a": (np.array([[0], [1]]), np.array([3.0, 4.0], np.float32), np.array([2])),
        "sp": (np.array([[0], [3]]), np.array([b"a", b"b"]), np.array([13])),
        "a": [a_default], "b": b_default, "c": np.array([3, 4], np.float32), "d": np.array([0.0, 1.0], np.float32),
    }
    check_single_example(tmp_path, original.SerializeToString(), feats, expected)


def test_single_example_with_all_feature_types(tmp_path):
    """ParseSingleExampleTest.testSingleExampleWithAllFeatureTypes"""
    original = example(features=features({
        "c": float_feature([3, 4]), "d": float_feature([0.0, 1.0]),
        "val": bytes_feature([b"a", b"b"]), "idx": int64_feature([0, 3]), "st_a": float_feature([3.0, 4.0]),
        "rt_1d": float_feature([3.0, 4.0]), "rt_values": float_feature([5, 6, 7]),
        "rt_splits": int64_feature([0, 1, 1, 3]), "rt_lengths": int64_feature([1, 0, 2]),
        "rt_starts": int64_feature([0, 1, 1]), "rt_limits": int64_feature([1, 1, 3]),
        "rt_rowids": int64_feature([0, 2, 2]), "rt_splits2": int64_feature([0, 2, 3])}))
    a_default, b_default = [1, 2, 3], np.random.rand(3, 3).astype(bytes)
    feats = {
        "st_a": io.VarLenFeature(tf.float32),
        "sp": io.SparseFeature(["idx"], "val", tf.string, [13]),
        "a": io.FixedLenFeature((1, 3), tf.int64, default_value=a_default),
        "b": io.FixedLenFeature((3, 3), tf.string, default_value=b_default),
        "c": io.FixedLenFeature(2, tf.float32),
        "d": io.FixedLenSequenceFeature([], tf.float32, allow_missing=True),
        "rt_1d": RF(tf.float32),
        "rt_2d_with_splits": RF(value_key="rt_values", partitions=[RF.RowSplits("rt_splits")], dtype=tf.float32),
        "rt_2d_with_lengths": RF(value_key="rt_values", partitions=[RF.RowLengths("rt_lengths")], dtype=tf.float32),
        "rt_2d_with_starts": RF(value_key="rt_values", partitions=[RF.RowStarts("rt_starts")], dtype=tf.float32),
        "rt_2d_with_limits": RF(value_key="rt_values", partitions=[RF.RowLimits("rt_limits")], dtype=tf.float32),
        "rt_2d_with_rowids": RF(value_key="rt_values", partitions=[RF.ValueRowIds("rt_rowids")], dtype=tf.float32),
        "rt_2d_with_uniform_row_length": RF(value_key="rt_values", partitions=[RF.UniformRowLength(1)],
                                            dtype=tf.float32),
        "rt_3d": RF(value_key="rt_values", partitions=[RF.RowSplits("rt_splits2"), RF.RowSplits("rt_splits")],
                    dtype=tf.float32),
        "rt_3d_with_uniform_row_length": RF(value_key="rt_values", partitions=[
            RF.UniformRowLength(1), RF.RowSplits("rt_splits")], dtype=tf.float32),
    }
    rt_2d = ragged([[5], [], [6, 7]], dtype=tf.float32)
    expected = {
        "st_a": (np.array([[0], [1]]), np.array([3.0, 4.0], np.float32), np.array([2])),
        "sp": (np.array([[0], [3]]), np.array([b"a", b"b"]), np.array([13])),
        "a": [a_default], "b": b_default, "c": np.array([3, 4], np.float32), "d": np.array([0.0, 1.0], np.float32),
        "rt_1d": np.array([3, 4], np.float32),
        "rt_2d_with_splits": rt_2d, "rt_2d_with_lengths": rt_2d, "rt_2d_with_starts": rt_2d,
        "rt_2d_with_limits": rt_2d, "rt_2d_with_rowids": rt_2d,
        "rt_2d_with_uniform_row_length": np.array([[5], [6], [7]], np.float32),
        "rt_3d": ragged([[[5], []], [[6, 7]]], dtype=tf.float32),
        "rt_3d_with_uniform_row_length": tf.RaggedTensor.from_uniform_row_length(rt_2d, uniform_row_length=1),
    }
    check_single_example(tmp_path, original.SerializeToString(), feats, expected)


# --- ParseSequenceExampleTest ----------------------------------------------------------------------------

def test_create_sequence_example(tmp_path):
    """ParseSequenceExampleTest.testCreateSequenceExample: tfforge writes the upstream SequenceExample
    from per-step arrays; protobuf reads back the same message and TensorFlow parses it."""
    value = sequence_example(
        context=features({"global_feature": float_feature([1, 2, 3])}),
        feature_lists=feature_lists({
            "repeated_feature_2_frames": feature_list([bytes_feature([b"a", b"b", b"c"]),
                                                       bytes_feature([b"a", b"d", b"e"])]),
            "repeated_feature_3_frames": feature_list([int64_feature([3, 4, 5, 6, 7]), int64_feature([-1, 0, 0, 0, 0]),
                                                       int64_feature([1, 2, 3, 4, 5])])}))
    path = str(tmp_path / "seq.tfrecord")
    with records.Writer(path, sequence=["repeated_feature_2_frames", "repeated_feature_3_frames"]) as w:
        w.write({"global_feature": np.array([[1, 2, 3]], np.float32),
                 "repeated_feature_2_frames": [[[b"a", b"b", b"c"], [b"a", b"d", b"e"]]],
                 "repeated_feature_3_frames": [np.array([[3, 4, 5, 6, 7], [-1, 0, 0, 0, 0], [1, 2, 3, 4, 5]])]})
    raw = next(iter(tf.data.TFRecordDataset(path))).numpy()
    assert sequence_example.FromString(raw) == value
    parsed = tf.io.parse_sequence_example([raw], **w.spec.to_tf())
    np.testing.assert_array_equal(parsed[1]["repeated_feature_3_frames"].numpy()[0],
                                  [[3, 4, 5, 6, 7], [-1, 0, 0, 0, 0], [1, 2, 3, 4, 5]])


@pytest.mark.parametrize("shape", [[0], [-1]])
def test_fixed_len_sequence_feature_invalid_shapes(shape):
    """ParseSequenceExampleTest.testFixedLenSequenceFeatureInvalidShapes (also
    testFixedLenSequenceFeatureZeroDimDoesNotCrash and, for tfforge's spec, the raw ops'
    testRawParse*RejectsZeroFeatureListDimension). tfforge only: the TensorFlow installed here (2.21)
    predates the upstream check and accepts the feature (parsing it used to crash the process)."""
    with pytest.raises(SpecError, match="dimensions must be positive"):
        records.Feature("float", shape, type="fixed_sequence", sequence=True, allow_missing=True)


def test_sequence_example_with_sparse_and_dense_context(tmp_path):
    """ParseSequenceExampleTest.testSequenceExampleWithSparseAndDenseContext (batch form of _testBoth)"""
    original = sequence_example(context=features({"c": float_feature([3, 4]), "st_a": float_feature([3.0, 4.0])}))
    a_default, b_default = [[1, 2, 3]], np.random.rand(3, 3).astype(bytes)
    context = {
        "st_a": io.VarLenFeature(tf.float32),
        "a": io.FixedLenFeature((1, 3), tf.int64, default_value=a_default),
        "b": io.FixedLenFeature((3, 3), tf.string, default_value=b_default),
        "c": io.FixedLenFeature((2,), tf.float32),
    }
    expected = {
        "st_a": _batch1_sparse((np.array([[0], [1]]), np.array([3.0, 4.0], np.float32), np.array([2]))),
        "a": np.expand_dims(a_default, 0), "b": np.expand_dims(b_default, 0),
        "c": np.expand_dims(np.array([3, 4], np.float32), 0),
    }
    check_sequence(tmp_path, [original.SerializeToString()], context=context, expected_context=expected)


def test_sequence_example_with_multiple_size_feature_lists(tmp_path):
    """ParseSequenceExampleTest.testSequenceExampleWithMultipleSizeFeatureLists"""
    original = sequence_example(feature_lists=feature_lists({
        "a": feature_list([int64_feature([-1, 0, 1]), int64_feature([2, 3, 4]), int64_feature([5, 6, 7]),
                           int64_feature([8, 9, 10])]),
        "b": feature_list([bytes_feature([b"r00", b"r01", b"r10", b"r11"])]),
        "c": feature_list([float_feature([3, 4]), float_feature([-1, 2])])}))
    single = {
        "a": np.array([[[-1, 0, 1]], [[2, 3, 4]], [[5, 6, 7]], [[8, 9, 10]]], np.int64),
        "b": np.array([[[b"r00", b"r01"], [b"r10", b"r11"]]]),
        "c": np.array([[3, 4], [-1, 2]], np.float32),
        "d": np.empty(shape=(0, 5), dtype=np.float32),
    }
    sequence = {
        "a": io.FixedLenSequenceFeature((1, 3), tf.int64), "b": io.FixedLenSequenceFeature((2, 2), tf.string),
        "c": io.FixedLenSequenceFeature(2, tf.float32),
        "d": io.FixedLenSequenceFeature((5,), tf.float32, allow_missing=True),
    }
    check_sequence(tmp_path, [original.SerializeToString()], sequence=sequence,
                   expected_lists={k: np.expand_dims(v, 0) for k, v in single.items()},
                   expected_lengths={k: [np.shape(v)[0]] for k, v in single.items()})


def _sparse_and_dense_lists():
    return sequence_example(feature_lists=feature_lists({
        "a": feature_list([int64_feature([3, 4]), int64_feature([1, 0])]),
        "st_a": feature_list([float_feature([3.0, 4.0]), float_feature([5.0]), float_feature([])]),
        "st_b": feature_list([bytes_feature([b"a"]), bytes_feature([]), bytes_feature([]),
                              bytes_feature([b"b", b"c"])])}))


@pytest.mark.parametrize("upstream", ["testSequenceExampleWithoutDebugName",
                                      "testSequenceExampleWithSparseAndDenseFeatureLists"])
def test_sequence_example_with_sparse_and_dense_feature_lists(tmp_path, upstream):
    """ParseSequenceExampleTest.testSequenceExampleWithoutDebugName and
    ParseSequenceExampleTest.testSequenceExampleWithSparseAndDenseFeatureLists (same input)"""
    single = {
        "a": np.array([[3, 4], [1, 0]], np.int64),
        "st_a": (np.array([[0, 0], [0, 1], [1, 0]]), np.array([3.0, 4.0, 5.0], np.float32), np.array([3, 2])),
        "st_b": (np.array([[0, 0], [3, 0], [3, 1]]), np.array([b"a", b"b", b"c"]), np.array([4, 2])),
        "st_c": (np.empty((0, 2), np.int64), np.empty((0,), np.int64), np.array([0, 0])),
    }
    sequence = {"st_a": io.VarLenFeature(tf.float32), "st_b": io.VarLenFeature(tf.string),
                "st_c": io.VarLenFeature(tf.int64), "a": io.FixedLenSequenceFeature((2,), tf.int64)}
    expected = {k: (_batch1_sparse(v) if isinstance(v, tuple) else np.expand_dims(v, 0)) for k, v in single.items()}
    check_sequence(tmp_path, [_sparse_and_dense_lists().SerializeToString()], sequence=sequence,
                   expected_lists=expected, expected_lengths={"a": [2]})


def test_sequence_example_with_empty_feature_in_feature_lists(tmp_path):
    """ParseSequenceExampleTest.testSequenceExampleWithEmptyFeatureInFeatureLists"""
    original = sequence_example(feature_lists=feature_lists({
        "st_a": feature_list([float_feature([3.0, 4.0]), feature(), float_feature([5.0])])}))
    single = (np.array([[0, 0], [0, 1], [2, 0]]), np.array([3.0, 4.0, 5.0], np.float32), np.array([3, 2]))
    check_sequence(tmp_path, [original.SerializeToString()], sequence={"st_a": io.VarLenFeature(tf.float32)},
                   expected_lists={"st_a": _batch1_sparse(single)})


@pytest.mark.parametrize("upstream,lists,step,got", [
    ("testSequenceExampleListWithInconsistentDataFails", [int64_feature([-1, 0]), float_feature([2, 3])], 1, "float"),
    ("testSequenceExampleListWithWrongDataTypeFails", [float_feature([2, 3])], 0, "float"),
    ("testSequenceExampleListWithWrongSparseDataTypeFails",
     [int64_feature([3, 4]), int64_feature([1, 2]), float_feature([2.0, 3.0])], 2, "float"),
])
def test_sequence_example_list_with_wrong_data_type_fails(tmp_path, upstream, lists, step, got):
    """ParseSequenceExampleTest.testSequenceExampleListWithInconsistentDataFails,
    testSequenceExampleListWithWrongDataTypeFails, testSequenceExampleListWithWrongSparseDataTypeFails"""
    original = sequence_example(feature_lists=feature_lists({"a": feature_list(lists)}))
    check_sequence(tmp_path, [original.SerializeToString()],
                   sequence={"a": io.FixedLenSequenceFeature((2,), tf.int64)},
                   tf_error=f"Feature list: a, Index: {step}.  Data types don't match. Expected type: int64",
                   ff_error=rf"record 0, byte offset \d+: feature list 'a', step {step} holds a {got}_list; "
                            "the spec says int64")


@pytest.mark.parametrize("upstream,lists,step,count", [
    ("testSequenceExampleListWithWrongShapeFails", [int64_feature([2, 3]), int64_feature([2, 3, 4])], 1, 3),
    ("testSequenceExampleListWithWrongShapeFails2", [int64_feature([2]), int64_feature([2, 3, 4])], 0, 1),
])
def test_sequence_example_list_with_wrong_shape_fails(tmp_path, upstream, lists, step, count):
    """ParseSequenceExampleTest.testSequenceExampleListWithWrongShapeFails and
    testSequenceExampleListWithWrongShapeFails2"""
    original = sequence_example(feature_lists=feature_lists({"a": feature_list(lists)}))
    check_sequence(tmp_path, [original.SerializeToString()],
                   sequence={"a": io.FixedLenSequenceFeature((2,), tf.int64)},
                   tf_error=r"Key: a, Index: \d.  Number of (int64 )?values != expected|"
                            r"Feature list 'a' has an unexpected number of values",
                   ff_error=rf"feature list 'a', step {step}: has {count} values where the spec says 2")


def test_sequence_example_with_missing_feature_list_fails(tmp_path):
    """ParseSequenceExampleTest.testSequenceExampleWithMissingFeatureListFails"""
    original = sequence_example(feature_lists=feature_lists({}))
    check_sequence(tmp_path, [original.SerializeToString()],
                   sequence={"a": io.FixedLenSequenceFeature((2,), tf.int64)},
                   tf_error="Feature list 'a' is required but could not be found.",
                   ff_error=r"record 0, byte offset 0: feature list 'a' is required but missing")


def test_sequence_example_batch(tmp_path):
    """ParseSequenceExampleTest.testSequenceExampleBatch"""
    first = sequence_example(feature_lists=feature_lists({"a": feature_list([
        int64_feature([-1, 0, 1]), int64_feature([2, 3, 4]), int64_feature([5, 6, 7]), int64_feature([8, 9, 10])])}))
    second = sequence_example(
        context=features({"c": float_feature([7])}),
        feature_lists=feature_lists({"a": feature_list([int64_feature([21, 2, 11])]),
                                     "b": feature_list([int64_feature([5])])}))
    expected_lists = {
        "a": np.array([[[[-1, 0, 1]], [[2, 3, 4]], [[5, 6, 7]], [[8, 9, 10]]],
                       [[[21, 2, 11]], [[0, 0, 0]], [[0, 0, 0]], [[0, 0, 0]]]], np.int64),
        "b": np.array([[0], [5]], np.int64),
        "d": np.empty(shape=(2, 0, 5), dtype=np.float32),
    }
    check_sequence(
        tmp_path, [first.SerializeToString(), second.SerializeToString()],
        context={"c": io.FixedLenFeature((), tf.float32, default_value=-1)},
        sequence={"a": io.FixedLenSequenceFeature((1, 3), tf.int64),
                  "b": io.FixedLenSequenceFeature((), tf.int64, allow_missing=True),
                  "d": io.FixedLenSequenceFeature((5,), tf.float32, allow_missing=True)},
        expected_context={"c": np.array([-1, 7], np.float32)}, expected_lists=expected_lists,
        expected_lengths={"a": [4, 1], "b": [0, 1], "d": [0, 0]})


def test_sequence_serialized_containing_ragged_feature_with_no_partitions(tmp_path):
    """ParseSequenceExampleTest.testSerializedContainingRaggedFeatureWithNoPartitions (batch and 64x batch)"""
    original = [
        sequence_example(context=features({"a": float_feature([3, 4])}), feature_lists=feature_lists({
            "b": feature_list([float_feature([5]), float_feature([3])]),
            "c": feature_list([int64_feature([6, 7, 8, 9])])})),
        sequence_example(context=features({"a": float_feature([9])}), feature_lists=feature_lists({
            "b": feature_list([]), "c": feature_list([int64_feature([]), int64_feature([1, 2, 3])])})),
        sequence_example(feature_lists=feature_lists({
            "b": feature_list([float_feature([1]), float_feature([1, 2]), float_feature([1, 2, 3])])})),
        sequence_example(context=features({"a": feature()}), feature_lists=feature_lists({
            "b": feature_list([feature()]), "c": feature_list([int64_feature([3, 3, 3])])})),
    ]
    serialized = [m.SerializeToString() for m in original]
    context = {"a": RF(dtype=tf.float32)}
    sequence = {"b": RF(dtype=tf.float32), "c": RF(dtype=tf.int64, row_splits_dtype=tf.int64)}
    a = ragged([[3, 4], [9], [], []], dtype=tf.float32, row_splits_dtype=tf.int32)
    b = ragged([[[5], [3]], [], [[1], [1, 2], [1, 2, 3]], [[]]], dtype=tf.float32, row_splits_dtype=tf.int32)
    c = ragged([[[6, 7, 8, 9]], [[], [1, 2, 3]], [], [[3, 3, 3]]], dtype=tf.int64, row_splits_dtype=tf.int64)
    check_sequence(tmp_path, serialized, context, sequence, {"a": a}, {"b": b, "c": c})
    check_sequence(tmp_path, serialized * 64, context, sequence, {"a": tf.concat([a] * 64, axis=0)},
                   {"b": tf.concat([b] * 64, axis=0), "c": tf.concat([c] * 64, axis=0)})


def test_sequence_serialized_containing_nested_ragged_feature(tmp_path):
    """ParseSequenceExampleTest.testSerializedContainingNestedRaggedFeature"""
    original = [
        sequence_example(
            context=features({
                "a_values": float_feature([1, 2, 3, 4, 5, 6, 7]), "a_lengths_axis2": int64_feature([1, 2, 0, 1]),
                "a_lengths_axis3": int64_feature([1, 2, 1, 3]), "a_splits_axis3": int64_feature([0, 1, 3, 4, 7])}),
            feature_lists=feature_lists({
                "b_values": feature_list([float_feature([1, 2, 3, 4]), float_feature([2, 4, 6])]),
                "b_splits": feature_list([int64_feature([0, 1, 4]), int64_feature([0, 2, 3])])})),
        sequence_example(),
        sequence_example(
            context=features({
                "a_values": float_feature([1, 2, 3, 4, 5, 6, 7, 8]), "a_lengths_axis2": int64_feature([2, 3]),
                "a_lengths_axis3": int64_feature([3, 1, 1, 1, 2]), "a_splits_axis3": int64_feature([0, 3, 4, 5, 6, 8])}),
            feature_lists=feature_lists({
                "b_values": feature_list([float_feature([9, 8, 7, 6, 5]), float_feature([4, 3, 2, 1]),
                                          float_feature([0])]),
                "b_splits": feature_list([int64_feature([0, 1, 4, 5]), int64_feature([0, 4]), int64_feature([0, 1])])})),
    ]
    context = {"a": RF(value_key="a_values", partitions=[
        RF.UniformRowLength(2), RF.RowLengths("a_lengths_axis2"), RF.RowSplits("a_splits_axis3")],
        dtype=tf.float32, row_splits_dtype=tf.int64)}
    sequence = {"b": RF(value_key="b_values", dtype=tf.float32, partitions=[RF.RowSplits("b_splits")]),
                "c": RF(value_key="b_values", dtype=tf.float32, partitions=[RF.UniformRowLength(1)])}
    expected_context = {"a": ragged([[[[[1]], [[2, 3], [4]]], [[], [[5, 6, 7]]]], [],
                                     [[[[1, 2, 3], [4]], [[5], [6], [7, 8]]]]], dtype=tf.float32, row_splits_dtype=tf.int64)}
    expected_lists = {
        "b": ragged([[[[1], [2, 3, 4]], [[2, 4], [6]]], [], [[[9], [8, 7, 6], [5]], [[4, 3, 2, 1]], [[0]]]],
                    dtype=tf.float32, row_splits_dtype=tf.int32),
        "c": ragged([[[[1], [2], [3], [4]], [[2], [4], [6]]], [], [[[9], [8], [7], [6], [5]], [[4], [3], [2], [1]], [[0]]]],
                    ragged_rank=2, dtype=tf.float32, row_splits_dtype=tf.int32),
    }
    check_sequence(tmp_path, [m.SerializeToString() for m in original], context, sequence, expected_context,
                   expected_lists)


def test_sequence_serialized_containing_misaligned_nested_ragged_feature(tmp_path):
    """ParseSequenceExampleTest.testSerializedContainingMisalignedNestedRaggedFeature"""
    original = sequence_example(feature_lists=feature_lists({
        "b_values": feature_list([float_feature([1, 2, 3, 4]), float_feature([2, 4, 6])]),
        "b_splits": feature_list([int64_feature([0, 1, 4])])}))
    sequence = {"b": RF(value_key="b_values", dtype=tf.float32, partitions=[RF.RowSplits("b_splits")], validate=True)}
    check_sequence(tmp_path, [original.SerializeToString()], sequence=sequence,
                   tf_error="Feature b: values and partitions are not aligned",
                   ff_error=r"record 0: Feature b: values and partitions are not aligned")
