"""Issue 10, point 5: a mapped input that shrinks or changes under tfforge is a clean error naming the
file, never SIGBUS and never silently different bytes.

- Checkpoint views: a numpy view handed to the caller outlives every check tfforge can make, so views
  are made only of bytes nothing can change (shards under 16 MiB are read into memory); a tensor in a
  mapped shard comes back as a CRC-checked copy. A data file truncated or rewritten after it was opened
  is a CheckpointError, and arrays already handed out keep their values. Run in a subprocess so that a
  SIGBUS would show as a signal exit instead of killing the test run.
- Graphs: a same-size rewrite of a mapped file is detected even when it happens within the same clock
  tick as the file's creation and when the writer restores the modification time (the change time
  moves; files changed in the last ticks are opened only once the clock has moved past them)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfforge.checkpoint as ck
import tfforge.graph as tg
from tfforge.errors import CheckpointError, GraphError
from wire_bytes import MAP_THRESHOLD, const_graph


def run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_checkpoint_view_of_a_mapped_shard_truncated_after_open(tmp_path):
    prefix = str(tmp_path / "m")
    proc = run_child(f"""
        import os, numpy as np, tfforge.checkpoint as ck
        from tfforge.errors import CheckpointError
        prefix = {prefix!r}
        a = np.arange(1 << 20, dtype=np.float32)
        b = np.arange(({MAP_THRESHOLD} >> 2) + (1 << 20), dtype=np.float32)
        ck.write(prefix, {{"a": a, "b": b}})
        data = prefix + ".data-00000-of-00001"
        assert os.path.getsize(data) >= {MAP_THRESHOLD}
        c = ck.open(prefix)
        va, vb = c.view("a"), c.view("b")
        assert np.array_equal(va, a) and np.array_equal(vb, b)
        first = min(c.names(), key=lambda n: c.entry(n)["offset"])
        os.truncate(data, c.entry(first)["size"] // 2)
        # the arrays handed out before keep their values: no SIGBUS, no zeros
        assert np.array_equal(va, a) and np.array_equal(vb, b)
        for name in ("a", "b"):
            for how in (c.view, c.read):
                try:
                    how(name)
                except CheckpointError as exc:
                    assert exc.path == data, exc.path
                    print("error:", exc)
                else:
                    raise AssertionError(f"{{how.__name__}}({{name}}) of a truncated file gave an array")
        print("ok")
    """)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-3000:])
    lines = proc.stdout.splitlines()
    assert lines[-1] == "ok" and len([line for line in lines if line.startswith("error:")]) == 4, proc.stdout


def test_checkpoint_view_of_a_mapped_shard_rewritten_in_place(tmp_path):
    prefix = str(tmp_path / "m")
    w = np.arange((MAP_THRESHOLD >> 2) + 4096, dtype=np.float32)
    ck.write(prefix, {"w": w})
    c = ck.open(prefix)
    view = c.view("w")
    data = prefix + ".data-00000-of-00001"
    with open(data, "r+b") as f:  # same size, other bytes, mtime restored
        st = os.fstat(f.fileno())
        f.seek(c.entry("w")["offset"] + 4096)
        f.write(b"\xee" * 4096)
    os.utime(data, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert np.array_equal(view, w)  # what was handed out does not change
    with pytest.raises(CheckpointError, match="CRC32C mismatch") as e:
        c.view("w")
    assert e.value.path == data


def test_small_checkpoint_shards_are_still_zero_copy_views(tmp_path):
    prefix = str(tmp_path / "m")
    ck.write(prefix, {"w": np.arange(1000, dtype=np.float32)})
    c = ck.open(prefix)
    v = c.view("w")
    assert not v.flags.owndata and not v.flags.writeable  # a view of the in-memory copy of the shard
    assert np.array_equal(v, np.arange(1000, dtype=np.float32))


@pytest.mark.parametrize("restore_mtime", [False, True], ids=["plain", "mtime-restored"])
def test_same_size_rewrite_right_after_load_is_detected(tmp_path, restore_mtime):
    """Written, loaded and rewritten back to back (all inside one clock tick when the machine is fast),
    without the one-second mtime bump the older test needed."""
    data = const_graph(MAP_THRESHOLD + 4096)
    src = tmp_path / "big.pb"
    for attempt in range(3):
        with open(src, "wb") as f:
            f.write(data)
        g = tg.load(src)
        with open(src, "r+b") as f:
            st = os.fstat(f.fileno())
            f.seek(len(data) // 2)
            f.write(b"\xee" * 16)
        if restore_mtime:
            os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
        with pytest.raises(GraphError, match="changed while tfforge was using it") as e:
            g.to_bytes()
        assert e.value.path == str(src)
        del g
