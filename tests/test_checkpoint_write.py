"""Checkpoints tfforge writes are read back exactly by tf.train.load_checkpoint, restored by
tf.train.Checkpoint.restore and tf.compat.v1.train.Saver.restore; writes are all-or-nothing."""

from __future__ import annotations

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import ml_dtypes  # noqa: E402

import tfforge.checkpoint as ck  # noqa: E402
from tfforge.errors import CheckpointError  # noqa: E402
from test_checkpoint_read import Model, assert_same_as_tensorflow, tf1_partitioned, tf2_checkpoint  # noqa: E402


def test_every_dtype_round_trips_through_tensorflow(tmp_path):
    values = {
        "f32": np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4),
        "f64": np.array([np.inf, -0.0, np.nan]),
        "f16": np.array([1.5, 65504], np.float16),
        "bf16": np.array([1.25, -3e38], ml_dtypes.bfloat16),
        "i8": np.array([-128, 127], np.int8), "i16": np.array([-2], np.int16), "i32": np.int32(5),
        "i64": np.array([[2**62]], np.int64), "u8": np.array([255], np.uint8), "u16": np.array([65535], np.uint16),
        "u32": np.array([2**32 - 1], np.uint32), "u64": np.array([2**64 - 1], np.uint64),
        "c64": np.array([1 - 1j], np.complex64), "c128": np.array([2 + 3j]), "b": np.array([True, False]),
        "str": np.array([[b"a", b""], [b"\x00\xff" * 50, "üñí".encode()]], dtype=object),
        "scalar_str": np.array(b"only", dtype=object), "empty": np.zeros((0, 3), np.float32),
        "nested/name with spaces": np.ones(2, np.float32),
    }
    prefix = ck.write(tmp_path / "all", values)
    assert_same_as_tensorflow(prefix)
    reader = tf.train.load_checkpoint(str(prefix))
    for name, value in values.items():
        got = reader.get_tensor(name)
        if np.asarray(value).dtype == object:
            assert np.asarray(got).tolist() == np.asarray(value).tolist()
        else:
            assert np.asarray(got).tobytes() == np.asarray(value).tobytes() and np.shape(got) == np.shape(value)
    state = (tmp_path / "checkpoint").read_text()
    assert 'model_checkpoint_path: "all"' in state
    assert tf.train.latest_checkpoint(str(tmp_path)) == str(tmp_path / "all")


@pytest.mark.parametrize("build", [tf2_checkpoint, tf1_partitioned], ids=["tf2", "tf1-partitioned"])
def test_copy_of_a_tensorflow_checkpoint_reads_the_same(tmp_path, build):
    src = ck.open(build())
    dst = ck.write(tmp_path / "copy", {n: src.read(n) for n in src.names()})
    reader = tf.train.load_checkpoint(str(dst))
    for n in src.names():
        a, b = src.read(n), np.asarray(reader.get_tensor(n))
        assert a.tolist() == b.tolist() if a.dtype == object else a.tobytes() == b.tobytes()


def test_tf2_checkpoint_restore_of_a_tfforge_copy(tmp_path):
    """A copy written by tfforge (object graph included) restores into a fresh model via
    tf.train.Checkpoint.restore, every value and the object graph matched."""
    src = ck.open(tf2_checkpoint())
    dst = ck.write(tmp_path / "copy", {n: src.read(n) for n in src.names()})
    fresh = Model(seed=99)
    status = tf.train.Checkpoint(model=fresh).restore(str(dst))
    status.assert_consumed()  # every tensor and every object matched, save_counter included
    original = Model(seed=0)
    for attr in ("w", "h", "b", "d", "s", "i", "u", "c", "flags"):
        got, want = getattr(fresh, attr).numpy(), getattr(original, attr).numpy()
        assert got.tolist() == want.tolist() if got.dtype == object else got.tobytes() == want.tobytes(), attr


def test_tf1_saver_restores_a_tfforge_checkpoint(tmp_path):
    """Saver.restore (RestoreV2, including partitioned variables restored slice by slice from a
    tensor tfforge stored whole) reads what tfforge wrote."""
    src = ck.open(tf1_partitioned())
    dst = str(ck.write(tmp_path / "copy", {n: src.read(n) for n in src.names()}))
    g = tf.Graph()
    with g.as_default():
        part = tf.compat.v1.get_variable("part", shape=[10, 3], partitioner=tf.compat.v1.fixed_size_partitioner(3))
        cube = tf.compat.v1.get_variable("cube", shape=[4, 5, 6], dtype=tf.int32,
                                         partitioner=tf.compat.v1.fixed_size_partitioner(2, axis=1))
        names = tf.compat.v1.get_variable("names", shape=[3], dtype=tf.string)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            saver.restore(sess, dst)
            p, c, s = sess.run([tf.convert_to_tensor(part), tf.convert_to_tensor(cube), names])
    assert np.array_equal(p, src.read("part")) and np.array_equal(c, src.read("cube"))
    assert s.tolist() == [b"x", b"yy", b"zzz"]


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="added twice"):
        with ck.Writer(tmp_path / "x") as w:
            w.add("a", np.ones(3, np.float32))
            w.add("a", np.ones(3, np.float32))
    assert sorted(os.listdir(tmp_path)) == []


def test_output_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        ck.write(tmp_path / "m", {"a": np.ones(2, np.float32)})
    finally:
        os.umask(old)
    modes = {f: os.stat(tmp_path / f).st_mode & 0o777 for f in os.listdir(tmp_path)}
    assert set(modes) == {"m.index", "m.data-00000-of-00001", "checkpoint"}
    assert set(modes.values()) == {0o640}


def test_state_file_keeps_earlier_checkpoints(tmp_path):
    ck.write(tmp_path / "a", {"x": np.ones(1, np.float32)})
    ck.write(tmp_path / "b", {"x": np.zeros(1, np.float32)})
    state = tf.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path.endswith("b")
    assert [os.path.basename(p) for p in state.all_model_checkpoint_paths] == ["a", "b"]


def test_unwritable_values_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no TensorFlow checkpoint equivalent"):
        ck.write(tmp_path / "m", {"a": np.array(["2020-01-01"], dtype="datetime64[D]")})
    with pytest.raises(CheckpointError, match="empty"):
        ck.write(tmp_path / "m", {"": np.ones(1)})


def test_one_writer_and_one_reader_shared_by_threads(tmp_path):
    """Adds and reads release the GIL; a Writer and a Checkpoint shared by threads stay consistent."""
    from concurrent.futures import ThreadPoolExecutor
    values = {f"t{i}": np.full((64, 64), i, np.float32) for i in range(32)}
    with ck.Writer(tmp_path / "m") as w, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda kv: w.add(*kv), values.items()))
    c = ck.open(tmp_path / "m")
    with ThreadPoolExecutor(8) as pool:
        got = dict(pool.map(lambda n: (n, c.read(n)), list(values) * 4))
    assert all(np.array_equal(got[n], v) for n, v in values.items())
    reader = tf.train.load_checkpoint(str(tmp_path / "m"))
    assert all(np.array_equal(reader.get_tensor(n), v) for n, v in values.items())
