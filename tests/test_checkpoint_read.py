"""tfforge.checkpoint reads what TensorFlow writes - TF2 tf.train.Checkpoint, TF1 Saver with partitioned
variables and strings, a sharded Saver with two data files, a snappy-compressed index - exactly as
tf.train.load_checkpoint does. The builders here are shared by the other checkpoint tests."""

from __future__ import annotations

import functools
import os
import struct
import tempfile

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfforge.checkpoint as ck  # noqa: E402
from tfforge import _native  # noqa: E402
from tfforge.errors import CheckpointError  # noqa: E402

_ROOT = tempfile.mkdtemp(prefix="tfforge-ckpt-tests-")


class Model(tf.Module):
    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.w = tf.Variable(rng.standard_normal((3, 4)).astype(np.float32))
        self.h = tf.Variable(np.array([1.5, -2.0, 65504.0], np.float16))
        self.b = tf.Variable(tf.constant([1.25, -3.5, 1e30], tf.bfloat16))
        self.d = tf.Variable(np.array([np.pi, np.nan], np.float64))
        self.s = tf.Variable(tf.constant([b"abc", b"", b"\x00\xffz" * 100]))
        self.i = tf.Variable(np.int64(-7))
        self.u = tf.Variable(np.array([1, 255], np.uint8))
        self.c = tf.Variable(np.array([1 + 2j, -3j], np.complex64))
        self.flags = tf.Variable(np.array([True, False]))
        self.empty = tf.Variable(np.zeros((0, 5), np.float32))


@functools.lru_cache(None)
def tf2_checkpoint() -> str:
    """A TF2 object-based checkpoint of Model (every common dtype, strings, an empty tensor)."""
    model = Model()
    return tf.train.Checkpoint(model=model).save(os.path.join(_ROOT, "tf2", "ckpt"))


@functools.lru_cache(None)
def tf1_partitioned() -> str:
    """A TF1 Saver checkpoint with partitioned variables (fixed_size_partitioner, float and 3-D int)
    and a string variable."""
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.get_variable("part", shape=[10, 3], partitioner=tf.compat.v1.fixed_size_partitioner(3),
                                  initializer=tf.compat.v1.random_normal_initializer(seed=1))
        full = np.arange(4 * 5 * 6, dtype=np.int32).reshape(4, 5, 6)

        def cube_init(shape, dtype=None, partition_info=None):
            start = partition_info.var_offset if partition_info else [0, 0, 0]
            return tf.constant(full[tuple(slice(o, o + n) for o, n in zip(start, shape))])
        tf.compat.v1.get_variable("cube", shape=[4, 5, 6], dtype=tf.int32, initializer=cube_init,
                                  partitioner=tf.compat.v1.fixed_size_partitioner(2, axis=1))
        tf.compat.v1.get_variable("names", initializer=tf.constant(["x", "yy", "zzz"]))
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            os.makedirs(os.path.join(_ROOT, "tf1"), exist_ok=True)
            return saver.save(sess, os.path.join(_ROOT, "tf1", "model"))


@functools.lru_cache(None)
def sharded() -> str:
    """Saver(sharded=True) over variables on two CPU devices: two .data files, merged index."""
    g = tf.Graph()
    with g.as_default():
        with tf.device("/cpu:0"):
            tf.compat.v1.get_variable("a", initializer=np.arange(6, dtype=np.float32).reshape(2, 3))
            tf.compat.v1.get_variable("p", shape=[7, 2], partitioner=tf.compat.v1.fixed_size_partitioner(2))
        with tf.device("/cpu:1"):
            tf.compat.v1.get_variable("b", initializer=np.arange(4, dtype=np.int64))
            tf.compat.v1.get_variable("s", initializer=tf.constant([b"q", b"rr"]))
        saver = tf.compat.v1.train.Saver(sharded=True)
        config = tf.compat.v1.ConfigProto(device_count={"CPU": 2})
        with tf.compat.v1.Session(config=config) as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            os.makedirs(os.path.join(_ROOT, "sharded"), exist_ok=True)
            return saver.save(sess, os.path.join(_ROOT, "sharded", "model"))


def assert_same_as_tensorflow(prefix: str) -> None:
    """Every tensor tfforge reads equals TensorFlow's, bit for bit, with the same names/dtypes/shapes."""
    ours, reader = ck.open(prefix), tf.train.load_checkpoint(prefix)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    assert ours.names() == sorted(shapes)
    for name in ours.names():
        assert ours.shape(name) == tuple(shapes[name]), name
        assert ours.dtype_name(name) == dtypes[name].name, name
        a, b = ours.read(name), np.asarray(reader.get_tensor(name))
        assert a.shape == b.shape, name
        if a.dtype == object:
            assert a.reshape(-1).tolist() == b.reshape(-1).tolist(), name
        else:
            assert a.dtype == b.dtype, name
            assert a.tobytes() == np.ascontiguousarray(b).tobytes(), name


@pytest.mark.parametrize("build", [tf2_checkpoint, tf1_partitioned, sharded], ids=["tf2", "tf1-partitioned", "sharded"])
def test_reads_what_tensorflow_wrote(build):
    assert_same_as_tensorflow(build())


def test_sharded_checkpoint_has_two_data_files():
    prefix = sharded()
    c = ck.open(prefix)
    assert c.num_shards == 2
    assert {c.entry(n)["shard"] for n in ("a", "b")} == {0, 1}


def test_partitioned_tensors_are_reassembled():
    c = ck.open(tf1_partitioned())
    info = c.info("part")
    assert info.partitioned and info.shape == (10, 3) and info.nbytes == 120
    assert len(c.entry("cube")["slices"]) == 2
    assert np.array_equal(c.read("cube"), np.arange(120, dtype=np.int32).reshape(4, 5, 6))


def test_view_is_a_zero_copy_readonly_map():
    c = ck.open(tf2_checkpoint())
    name = "model/w/.ATTRIBUTES/VARIABLE_VALUE"
    v = c.view(name)
    assert not v.flags.writeable and not v.flags.owndata
    assert np.array_equal(v, c.read(name))
    del c
    assert v.sum() == v.sum()  # the mapping outlives the Checkpoint object through the array


def test_open_accepts_prefix_index_data_and_directory():
    prefix = tf1_partitioned()
    d = os.path.dirname(prefix)
    for path in (prefix, prefix + ".index", prefix + ".data-00000-of-00001", d):
        assert ck.open(path).prefix == prefix


def test_object_graph_attributes_match_tensorflow():
    """The native object-graph walk agrees with TensorFlow's TrackableObjectGraph parse."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2
    c = ck.open(tf2_checkpoint())
    raw = c.object_graph()
    proto = trackable_object_graph_pb2.TrackableObjectGraph.FromString(raw)
    expected = [(i, a.name, a.full_name, a.checkpoint_key) for i, n in enumerate(proto.nodes) for a in n.attributes]
    assert _native.object_graph_attributes(raw) == expected
    assert {key for *_, key in expected} <= set(c.names())


def test_unknown_tensor_is_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="'nope' not found"):
        ck.open(tf2_checkpoint()).read("nope")


def test_missing_checkpoint_names_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="cannot open") as e:
        ck.open(tmp_path / "absent")
    assert str(tmp_path / "absent.index") in str(e.value)


# -- snappy-compressed index blocks: TensorFlow writes none, but its table reader accepts them --

def _snappy_compress(data: bytes) -> bytes:
    """A minimal snappy encoder: literals, and 2-byte-offset copies of 4+ repeated bytes."""
    out = bytearray()
    n = len(data)
    v = n
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    i, lit = 0, 0
    seen = {}

    def flush_literal(end):
        nonlocal lit
        while lit < end:
            k = min(60, end - lit)
            out.append((k - 1) << 2)
            out.extend(data[lit:lit + k])
            lit += k
    while i + 4 <= n:
        key = data[i:i + 4]
        j = seen.get(key)
        seen[key] = i
        if j is not None and i - j < 65536:
            flush_literal(i)
            length = 4
            while i + length < n and data[j + length] == data[i + length] and length < 64:
                length += 1
            out.append(((length - 1) << 2) | 2)
            out.extend(struct.pack("<H", i - j))
            i += length
            lit = i
        else:
            i += 1
    flush_literal(n)
    return bytes(out)


def test_snappy_compressed_index_reads_like_tensorflow(tmp_path):
    """Recompresses the single data block of a TF-written index with snappy (type byte 1, new CRC);
    TensorFlow and tfforge both read the result, identically."""
    src = tf1_partitioned()
    dst = str(tmp_path / "model")
    for f in os.listdir(os.path.dirname(src)):
        if f.startswith("model.data"):
            os.link(os.path.join(os.path.dirname(src), f), str(tmp_path / f))
    raw = open(src + ".index", "rb").read()
    footer = raw[-48:]

    def varints(buf, pos, count):
        vals = []
        for _ in range(count):
            v = shift = 0
            while True:
                b = buf[pos]
                pos += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            vals.append(v)
        return vals
    _, _, index_off, index_size = varints(footer, 0, 4)
    index_block = raw[index_off:index_off + index_size]
    # the index block's single entry: shared 0, key, then the data block handle
    _, klen, vlen = varints(index_block, 0, 3)
    head = 3 if klen < 128 else None
    assert head is not None and vlen < 128
    data_off, data_size = varints(index_block, head + klen, 2)
    block = raw[data_off:data_off + data_size]
    compressed = _snappy_compress(block)
    assert len(compressed) < len(block)

    def trailer(body, kind):
        return bytes([kind]) + struct.pack("<I", _native.mask_crc32c(_native.crc32c(body + bytes([kind]))))

    def handle(off, size):
        out = bytearray()
        for v in (off, size):
            while v >= 0x80:
                out.append(v & 0x7F | 0x80)
                v >>= 7
            out.append(v)
        return bytes(out)
    new = bytearray(compressed + trailer(compressed, 1))
    meta_off = len(new)
    meta = struct.pack("<II", 0, 1)
    new += meta + trailer(meta, 0)
    key = index_block[head:head + klen]
    value = handle(0, len(compressed))
    idx = bytes([0, klen, len(value)]) + key + value + struct.pack("<II", 0, 1)
    idx_off = len(new)
    new += idx + trailer(idx, 0)
    foot = handle(meta_off, len(meta)) + handle(idx_off, len(idx))
    new += foot + bytes(40 - len(foot)) + raw[-8:]
    open(dst + ".index", "wb").write(bytes(new))
    assert_same_as_tensorflow(dst)


def test_many_tensors_span_several_index_blocks(tmp_path):
    """3000 tensors with long shared-prefix names: TensorFlow's SaveV2 writes an index of several
    256 KB data blocks with restart points; tfforge reads it, and TensorFlow reads tfforge's copy."""
    names = [f"encoder/layer_{i // 10:04d}/attention/projection_{i % 10}/" + "k" * 80 for i in range(3000)]
    values = [tf.constant(np.full((2,), i, np.int32)) for i in range(len(names))]
    prefix = str(tmp_path / "tf" / "many")
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names), tensors=values)
    assert os.path.getsize(prefix + ".index") > 262144  # more than one data block
    c = ck.open(prefix)
    assert c.names() == sorted(names)
    assert all(c.read(n)[0] == names.index(n) for n in names[::97])
    copy = ck.write(tmp_path / "ours" / "many", {n: c.read(n) for n in c.names()})
    assert os.path.getsize(str(copy) + ".index") > 262144
    assert_same_as_tensorflow(str(copy))
