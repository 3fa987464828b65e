"""The decoder rejects what tf.io.parse_example rejects (TensorFlow checked live on the same bytes), with
errors naming the file, the record, the feature and the byte offset; strict=False reads leniently;
non-UTF-8 keys never raise UnicodeDecodeError."""

from __future__ import annotations

import numpy as np
import pytest

from tfforge import records
from tfforge.errors import CorruptRecordError, SpecError
from tfforge.records import Feature, Spec

tf = pytest.importorskip("tensorflow")
from tensorflow.core.example import example_pb2, feature_pb2  # noqa: E402

F, FL, IL = feature_pb2.Feature, feature_pb2.FloatList, feature_pb2.Int64List


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return bytes([field << 3 | 2]) + _varint(len(payload)) + payload


def _example(d) -> bytes:
    return example_pb2.Example(features=feature_pb2.Features(feature=d)).SerializeToString()


def _record(*entries: bytes) -> bytes:
    """An Example whose Features holds these raw map entries."""
    return _ld(1, b"".join(_ld(1, e) for e in entries))


INT_1 = F(int64_list=IL(value=[1])).SerializeToString()

# name: (record bytes, tf.io features, tfforge error class, message)
CASES = {
    "empty list for a fixed feature with a default": (
        _example({"a": F(float_list=FL(value=[]))}), {"a": tf.io.FixedLenFeature([2], tf.float32, default_value=[1, 2])},
        SpecError, "feature 'a' has 0 values where the spec says 2"),
    "empty list for a scalar with a default": (
        _example({"a": F(float_list=FL(value=[]))}), {"a": tf.io.FixedLenFeature([], tf.float32, default_value=1.0)},
        SpecError, "feature 'a' has 0 values where the spec says 1"),
    "int64 list where float was asked": (
        _example({"a": F(int64_list=IL(value=[1]))}), {"a": tf.io.FixedLenFeature([], tf.float32)},
        SpecError, "feature 'a' holds a int64_list; the spec says float"),
    "empty int64 list for a float varlen": (
        _example({"a": F(int64_list=IL(value=[]))}), {"a": tf.io.VarLenFeature(tf.float32)},
        SpecError, "feature 'a' holds a int64_list; the spec says float"),
    "empty int64 list for a float ragged": (
        _example({"a": F(int64_list=IL(value=[]))}), {"a": tf.io.RaggedFeature(tf.float32)},
        SpecError, "feature 'a' holds a int64_list; the spec says float"),
    "wrong number of values": (
        _example({"a": F(int64_list=IL(value=[1, 2, 3]))}), {"a": tf.io.FixedLenFeature([2], tf.int64)},
        SpecError, "feature 'a' has 3 values where the spec says 2"),
    "map entry with its value twice": (
        _record(_ld(1, b"a") + _ld(2, INT_1) + _ld(2, INT_1)), {"a": tf.io.VarLenFeature(tf.int64)},
        CorruptRecordError, "Features entry 'a' holds 1 key\\(s\\), 2 value\\(s\\)"),
    "map entry with an extra field": (
        _record(_ld(1, b"a") + _ld(2, INT_1) + bytes([3 << 3, 5])), {"a": tf.io.VarLenFeature(tf.int64)},
        CorruptRecordError, "1 other field"),
    "Feature starting with an unknown field": (
        _record(_ld(1, b"a") + _ld(2, bytes([4 << 3, 1]) + INT_1)), {"a": tf.io.VarLenFeature(tf.int64)},
        CorruptRecordError, "Feature holds field 4"),
    "Features holding a field other than entries": (
        _ld(1, _ld(1, _ld(1, b"a") + _ld(2, INT_1)) + bytes([2 << 3, 1])), {"a": tf.io.VarLenFeature(tf.int64)},
        CorruptRecordError, "Features holds field 2"),
}


def _write(tmp_path, recs) -> str:
    path = str(tmp_path / "strict.tfrecord")
    with records.Writer(path) as w:
        for r in recs:
            w.write_serialized(r)
    return path


@pytest.mark.parametrize("name", list(CASES))
def test_strict_like_tensorflow(tmp_path, name):
    rec, feats, error, message = CASES[name]
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.parse_example([rec], feats)
    f = feats["a"]
    n = int(np.prod(f.shape)) if isinstance(f, tf.io.FixedLenFeature) else 2
    good = _example({"a": F(float_list=FL(value=[1.0] * n)) if f.dtype == tf.float32 else F(int64_list=IL(value=[1] * n))})
    path = _write(tmp_path, [good, rec])
    with pytest.raises(error, match=message) as e:
        list(records.read(path, spec=Spec.from_tf(feats), batch_size=4))
    err = e.value
    assert err.path == path and err.offset is not None and err.offset > 0
    assert err.record == 1
    assert "'a'" in str(err) or name.startswith("Features holding")


def test_lenient_mode_reads_what_protobuf_would(tmp_path):
    rec, feats, _, _ = CASES["empty list for a fixed feature with a default"]
    got = next(iter(records.read(_write(tmp_path, [rec]), spec=Spec.from_tf(feats), strict=False)))
    np.testing.assert_array_equal(got["a"], [[1, 2]])  # the default, as before strict mode
    rec, feats, _, _ = CASES["map entry with its value twice"]
    got = next(iter(records.read(_write(tmp_path, [rec]), spec=Spec.from_tf(feats), strict=False)))
    assert got["a"].values.tolist() == [1]  # lenient: the entry's last value
    rec, feats, _, _ = CASES["empty int64 list for a float varlen"]
    got = next(iter(records.read(_write(tmp_path, [rec]), spec=Spec.from_tf(feats), strict=False)))
    assert got["a"].values.tolist() == []


def test_first_list_of_a_feature_wins_like_tensorflow(tmp_path):
    two = INT_1 + F(float_list=FL(value=[2.0])).SerializeToString()
    rec = _record(_ld(1, b"a") + _ld(2, two))
    feats = {"a": tf.io.VarLenFeature(tf.int64)}
    assert tf.io.parse_example([rec], feats)["a"].values.numpy().tolist() == [1]
    got = next(iter(records.read(_write(tmp_path, [rec]), spec=Spec.from_tf(feats))))
    assert got["a"].values.tolist() == [1]


def test_non_utf8_keys_never_raise_unicode_errors(tmp_path):
    key = b"\xff\xfeid"
    good = _record(_ld(1, key) + _ld(2, INT_1), _ld(1, b"ok") + _ld(2, INT_1))
    bad = _record(_ld(1, key) + _ld(2, INT_1) + _ld(2, INT_1))
    path = _write(tmp_path, [good, bad])
    name = key.decode("utf-8", "surrogateescape")  # how the Python API holds such a key
    head = records.head(path, 1)
    assert set(head[0]) == {name, "ok"}
    spec = records.infer_spec(path)
    assert name in spec
    got = next(iter(records.read(path, spec=spec, features=[name], batch_size=1)))
    assert got[name].tolist() == [1]
    with pytest.raises(CorruptRecordError, match=r"record 1, byte offset \d+: .*'\\xff\\xfeid'"):
        list(records.read(path, spec={"ok": Feature("int64", ())}))
    report = records.verify(path, examples=True)
    assert not report.ok and report.errors[0]["record"] == 1 and "\\xff\\xfeid" in report.errors[0]["reason"]


def test_sequence_example_entries_need_the_key_first(tmp_path):
    # Context entry with the value before the key: TensorFlow's Example parser takes it, its
    # SequenceExample parser does not; tfforge follows whichever the spec asks for.
    rec = _ld(1, _ld(1, _ld(2, INT_1) + _ld(1, b"a")))
    flat = {"a": tf.io.VarLenFeature(tf.int64)}
    assert tf.io.parse_example([rec], flat)["a"].values.numpy().tolist() == [1]
    seq = dict(context_features=flat, sequence_features={"s": tf.io.VarLenFeature(tf.int64)})
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.parse_sequence_example([rec], **seq)
    path = _write(tmp_path, [rec])
    assert next(iter(records.read(path, spec=Spec.from_tf(flat))))["a"].values.tolist() == [1]
    with pytest.raises(CorruptRecordError, match=r"record 0, byte offset \d+: .*value before its key"):
        list(records.read(path, spec=Spec.from_tf(**seq)))
