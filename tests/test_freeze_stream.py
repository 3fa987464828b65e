"""Streamed weights in the freeze writer: a frozen graph's Consts take their bytes from ranges of the
checkpoint's data shard or the .keras file (tfforge._native.StoredBytes), read in chunks by the writer,
CRC32C-checked on the bytes it writes (checkpoints) and the file checked unchanged. The output is the
same, byte for byte, as the graph written from weights held in memory, TensorFlow runs it, a damaged or
changed source is one clear error with no output left, and the O_DIRECT writer (AtomicFileSink's direct
mode) writes the same bytes on disk and on tmpfs, where it may fall back to buffered writes."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from test_convert_models import X4, keras_mlp_path, run_frozen, savedmodel_two_signatures, tf1_checkpoint  # noqa: E402
from tfforge import checkpoint  # noqa: E402
from tfforge.convert import checkpoint_source, load_frozen  # noqa: E402
from tfforge.convert.frozen import StoredWeight  # noqa: E402
from tfforge.errors import CheckpointError, ConversionError, GraphError  # noqa: E402
from tfforge.graph.graph import Graph  # noqa: E402

pytestmark = pytest.mark.tensorflow


def _copy_checkpoint(tmp_path):
    """A private copy of the TF1 test checkpoint (the shared one must stay intact): its directory and
    the prefix of global step 2."""
    src, refs, _ = tf1_checkpoint(False)
    d = tmp_path / "ckpt"
    shutil.copytree(src, d)
    with open(d / "checkpoint", "w") as f:
        f.write('model_checkpoint_path: "model.ckpt-2"\n')
    return d, str(d / "model.ckpt-2"), refs


def _in_memory(frozen, path):
    """Writes `frozen` after every StoredWeight became an array in memory (the path before streaming)."""
    for name, w in frozen.weights.items():
        if isinstance(w, StoredWeight):
            frozen.graph.replace_with_const(name, w.numpy(), borrow=True)
    frozen.write(path)
    return open(path, "rb").read()


def _leftovers(directory):
    return sorted(p for p in os.listdir(directory) if ".tmp-" in p)


def test_tf1_checkpoint_streams_the_same_bytes_as_the_view_path(tmp_path, monkeypatch):
    d, _, refs = _copy_checkpoint(tmp_path)
    frozen = load_frozen(str(d), outputs="y")
    assert frozen.weights and all(isinstance(w, StoredWeight) for w in frozen.weights.values())
    frozen.write(tmp_path / "stream.pb")
    monkeypatch.setattr(checkpoint_source, "weight", lambda bundle, key: bundle.view(key))
    old = load_frozen(str(d), outputs="y")
    assert not any(isinstance(w, StoredWeight) for w in old.weights.values())
    old.write(tmp_path / "view.pb")
    streamed = (tmp_path / "stream.pb").read_bytes()
    assert streamed == (tmp_path / "view.pb").read_bytes()
    assert frozen.graph.to_bytes() == streamed  # the in-memory writer streams the same bytes
    np.testing.assert_allclose(run_frozen(tmp_path / "stream.pb", {"x": X4}, ["y"])[0], refs[2], rtol=1e-6)


def test_keras_weights_stream_from_the_keras_file(tmp_path):
    path, expected = keras_mlp_path("keras")
    frozen = load_frozen(pathlib.Path(path))  # a path-like source works as a str does
    stored = [w for w in frozen.weights.values() if isinstance(w, StoredWeight)]
    assert stored and all(w.stored.path == path for w in stored)
    frozen.write(tmp_path / "stream.pb")
    streamed = (tmp_path / "stream.pb").read_bytes()
    assert _in_memory(frozen, tmp_path / "memory.pb") == streamed
    (y,) = run_frozen(tmp_path / "stream.pb", {frozen.inputs[0]: X4}, frozen.outputs)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_savedmodel_variables_stream_from_the_checkpoint(tmp_path):
    path, expected = savedmodel_two_signatures()
    frozen = load_frozen(path)
    assert any(isinstance(w, StoredWeight) for w in frozen.weights.values())
    frozen.write(tmp_path / "stream.pb")
    streamed = (tmp_path / "stream.pb").read_bytes()
    assert _in_memory(frozen, tmp_path / "memory.pb") == streamed
    (scores,) = run_frozen(tmp_path / "stream.pb", {"x": X4}, frozen.outputs)
    np.testing.assert_allclose(scores, expected["serving_default"]["scores"], rtol=1e-5)


def _flip_weight_byte(prefix, tensor):
    entry = checkpoint.open(prefix).entry(tensor)
    shard = f"{prefix}.data-00000-of-00001"
    with open(shard, "r+b") as f:
        f.seek(entry["offset"] + entry["size"] // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x10]))
    return shard, entry["offset"]


def test_a_corrupt_weight_byte_is_one_line_naming_file_tensor_and_offset_and_no_output(tmp_path):
    d, prefix, _ = _copy_checkpoint(tmp_path)
    shard, offset = _flip_weight_byte(prefix, "w")
    out = tmp_path / "out" / "frozen.pb"
    proc = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "freeze", str(d), str(out), "--outputs", "y"],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "CRC32C mismatch" in lines[0] and "tensor 'w'" in lines[0] and shard in lines[0], lines[0]
    assert f"byte offset {offset}" in lines[0], lines[0]
    assert not out.exists() and not _leftovers(out.parent)


@pytest.mark.parametrize("change", ["truncate", "rewrite"])
def test_a_shard_changed_during_the_freeze_is_an_error_and_no_output(tmp_path, change):
    d, prefix, _ = _copy_checkpoint(tmp_path)
    frozen = load_frozen(str(d), outputs="y")
    shard = f"{prefix}.data-00000-of-00001"
    data = open(shard, "rb").read()
    with open(shard, "r+b") as f:  # between splicing and writing: the writer reads the shard only now
        if change == "truncate":
            f.truncate(len(data) // 2)
        else:
            f.write(data)  # the same bytes, rewritten in place: the file's times move
    out = tmp_path / "frozen.pb"
    with pytest.raises(CheckpointError) as err:
        frozen.write(out)
    assert err.value.path == shard
    assert ("ends early" in err.value.message or "changed" in err.value.message), err.value.message
    assert not out.exists() and not _leftovers(tmp_path)


def test_a_keras_file_truncated_during_the_freeze_is_an_error_and_no_output(tmp_path):
    path, _ = keras_mlp_path("keras")
    copy = tmp_path / "model.keras"
    shutil.copy(path, copy)
    frozen = load_frozen(str(copy))
    os.truncate(copy, os.path.getsize(copy) // 2)
    out = tmp_path / "frozen.pb"
    with pytest.raises(ConversionError) as err:
        frozen.write(out)
    assert err.value.path == str(copy) and "model.weights.h5" in err.value.message
    assert not out.exists() and not _leftovers(tmp_path)


def _big_graph(tmp_path, corrupt=None):
    """A graph of four Consts streamed from a checkpoint, 26 MB in all, sizes not multiples of 4096:
    several direct-I/O blocks and an unaligned tail; tensor `corrupt` gets a flipped byte before the
    checkpoint is opened. Returns (graph, expected bytes)."""
    rng = np.random.default_rng(0)
    arrays = {f"w{i}": rng.standard_normal(n).astype(np.float32) for i, n in enumerate((2_500_001, 1_999_999, 777))}
    arrays["w3"] = rng.standard_normal(1_000_003).astype(np.float64)
    prefix = str(tmp_path / "big" / "model")
    checkpoint.write(prefix, arrays)
    if corrupt:
        _flip_weight_byte(prefix, corrupt)
    gd = tf.compat.v1.GraphDef()
    for name, a in arrays.items():
        node = gd.node.add(name=name, op="Placeholder")
        node.attr["dtype"].type = tf.as_dtype(a.dtype).as_datatype_enum
    graph = Graph.from_bytes(gd.SerializeToString())
    memory = Graph.from_bytes(gd.SerializeToString())
    ckpt = checkpoint.open(prefix)
    for name, a in arrays.items():
        graph.replace_with_stored_const(name, ckpt.stored(name), a.dtype, a.shape)
        memory.replace_with_const(name, a)
    return graph, memory.to_bytes()


@pytest.mark.parametrize("where", ["disk", "tmpfs"])
@pytest.mark.parametrize("direct", [True, False])
def test_direct_and_buffered_writes_give_the_same_bytes_on_disk_and_tmpfs(tmp_path, where, direct):
    if where == "tmpfs" and not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    graph, expected = _big_graph(tmp_path)
    out_dir = tmp_path if where == "disk" else __import__("tempfile").mkdtemp(dir="/dev/shm", prefix="tfforge-")
    try:
        out = os.path.join(out_dir, "frozen.pb")
        graph._native.save(out, direct=direct)  # noqa: SLF001
        assert open(out, "rb").read() == expected
        assert graph.to_bytes() == expected
        assert not _leftovers(out_dir)
    finally:
        if where == "tmpfs":
            shutil.rmtree(out_dir)


@pytest.mark.parametrize("direct", [True, False])
def test_direct_writes_check_the_crc_of_what_they_write(tmp_path, direct):
    graph, _ = _big_graph(tmp_path, corrupt="w1")
    out = tmp_path / "frozen.pb"
    with pytest.raises(CheckpointError, match="tensor 'w1': CRC32C mismatch"):
        graph._native.save(str(out), direct=direct)  # noqa: SLF001
    assert not out.exists() and not _leftovers(tmp_path)
    with pytest.raises(CheckpointError, match="CRC32C mismatch"):
        graph.to_bytes()


def test_a_stored_range_outside_its_file_is_refused(tmp_path):
    from tfforge import _native
    p = tmp_path / "f.bin"
    p.write_bytes(b"0123456789")
    source = _native.SourceFile(str(p), "GraphError")
    assert _native.StoredBytes(source, 2, 8, "bytes").read() == b"23456789"
    with pytest.raises(GraphError, match="run past the end"):
        _native.StoredBytes(source, 3, 8, "bytes")
