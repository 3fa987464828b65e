"""Issue 10, point 4: leftover temporary files of killed runs are removed by the next write to the same
place, for every kind of output (graph .pb and .pbtxt, checkpoints written, edited and imported,
converted graphs, SavedModel directories), and the temporary file of a live writer is never removed -
not even one whose pid this process cannot see (another PID namespace): writers hold an exclusive
flock on their temporary file or directory, and only unlocked leftovers of dead pids go.
(Records shards and spec files: tests/test_records_io.py; the Python and native writers themselves:
tests/test_foundation_io.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tfforge.checkpoint as ck
from tfforge import _io, _native
from tfforge.cli.main import main as cli_main
from tfforge.graph import Graph

DEAD_PID = 999_999_999  # above any pid_max: never a running process
GRAPH = bytes([0x0A, 0x09, 0x0A, 0x01]) + b"a" + bytes([0x12, 0x04]) + b"NoOp"


def plant(directory, target: str, pid: int = DEAD_PID, hexpart: str = "0123456789abcdef", is_dir=False):
    path = os.path.join(directory, f".{target}.tmp-{pid}-{hexpart}")
    if is_dir:
        os.mkdir(path)
        with open(os.path.join(path, "saved_model.pb"), "wb") as f:
            f.write(b"half")
    else:
        with open(path, "wb") as f:
            f.write(b"x" * 100)
    return os.path.basename(path)


def temps(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if ".tmp-" in n)


def _graph_pb(d):
    Graph.from_bytes(GRAPH).save(os.path.join(d, "out.pb"))


def _graph_pbtxt(d):
    Graph.from_bytes(GRAPH).save(os.path.join(d, "out.pbtxt"))


def _to_text(d):
    with open(os.path.join(d, "in.pb"), "wb") as f:
        f.write(GRAPH)
    assert cli_main(["graph", "to-text", os.path.join(d, "in.pb"), os.path.join(d, "out.pbtxt")]) == 0


def _ckpt_write(d):
    ck.write(os.path.join(d, "m"), {"w": np.ones(3, np.float32)}, state_file=False)


def _ckpt_edit(d):
    src = os.path.join(d, "src")
    os.makedirs(src, exist_ok=True)
    ck.write(os.path.join(src, "m"), {"w": np.ones(3, np.float32), "opt": np.zeros(2)}, state_file=False)
    assert cli_main(["ckpt", "edit", os.path.join(src, "m"), os.path.join(d, "m"), "--drop", "^opt"]) == 0


def _ckpt_import(d):
    npz = os.path.join(d, "w.npz")
    np.savez(npz, w=np.ones(3, np.float32))
    assert cli_main(["ckpt", "import", npz, os.path.join(d, "m")]) == 0


def _savedmodel_dir(d):
    # the directory writer behind `convert --to savedmodel` and ops.save_saved_model
    with _io.atomic_directory(os.path.join(d, "sm")) as tmp:
        with open(os.path.join(tmp, "saved_model.pb"), "wb") as f:
            f.write(b"complete")


# writer -> (the outputs it makes, whether they are directories)
WRITERS = {
    "graph save .pb": (_graph_pb, ["out.pb"], False),  # also `convert`/`freeze` to .pb (FrozenGraph.write_pb)
    "graph save .pbtxt": (_graph_pbtxt, ["out.pbtxt"], False),
    "graph to-text": (_to_text, ["out.pbtxt"], False),
    "ckpt write": (_ckpt_write, ["m.index", "m.data-00000-of-00001"], False),
    "ckpt edit": (_ckpt_edit, ["m.index", "m.data-00000-of-00001"], False),
    "ckpt import": (_ckpt_import, ["m.index", "m.data-00000-of-00001"], False),
    "savedmodel directory": (_savedmodel_dir, ["sm"], True),
}


@pytest.mark.parametrize("writer", list(WRITERS))
def test_leftovers_of_killed_runs_are_removed_by_the_next_write(tmp_path, writer):
    write, outputs, is_dir = WRITERS[writer]
    for i, out in enumerate(outputs):
        plant(tmp_path, out, hexpart=f"{i:016x}", is_dir=is_dir)
    live = plant(tmp_path, outputs[0], pid=os.getppid(), hexpart="f" * 16, is_dir=is_dir)  # a running process
    other = plant(tmp_path, "unrelated.pb")  # another output's leftover: not this write's business
    write(str(tmp_path))
    assert temps(tmp_path) == sorted([live, other])
    for out in outputs:
        assert os.path.exists(tmp_path / out)


LOCK_HOLDER = """
    import fcntl, os, sys, time
    path = sys.argv[1]
    flags = os.O_RDONLY | (os.O_DIRECTORY if os.path.isdir(path) else 0)
    fd = os.open(path, flags)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("writer", ["graph save .pb", "ckpt write", "graph save .pbtxt", "savedmodel directory"])
def test_a_live_writers_temp_is_kept_even_when_its_pid_is_not_ours_to_see(tmp_path, writer):
    """The leftover's pid does not exist here (as for a writer in another container), but a process
    holds its lock: the next write leaves it; once the holder is gone, the write after removes it."""
    write, outputs, is_dir = WRITERS[writer]
    name = plant(tmp_path, outputs[0], is_dir=is_dir)
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(LOCK_HOLDER), str(tmp_path / name)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        write(str(tmp_path))
        assert name in temps(tmp_path)
        assert _io.cleanup_stale_temps(str(tmp_path), outputs[0]) == 0
        if not is_dir:
            assert _native.io_remove_stale_temps(str(tmp_path), outputs[0]) == 0
    finally:
        holder.kill()
        holder.wait()
    write(str(tmp_path))
    assert name not in temps(tmp_path)


def test_writers_hold_the_lock_while_writing(tmp_path):
    """The Python writer's and the native writer's temporary files are locked while open."""
    import fcntl

    def locked(path) -> bool:
        fd = os.open(path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    with _io.atomic_write(tmp_path / "a.bin") as f:
        f.write(b"x")
        (tmp := temps(tmp_path)[0])
        assert locked(tmp_path / tmp)
    w = _native.CheckpointWriter(str(tmp_path / "m"))
    (tmp,) = temps(tmp_path)
    assert locked(tmp_path / tmp)
    w.add("w", 1, [1], np.ones(1, np.float32).view(np.uint8))
    w.finish()
    assert temps(tmp_path) == []
