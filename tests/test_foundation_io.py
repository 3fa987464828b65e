"""The one atomic output writer: tfforge._io (Python) and cc/io/atomic_file (C++, reached through the
graph writer, `Graph.save`). Umask, unpredictable temporary names, planted symlinks, failures that
leave the old file intact and nothing behind, a full disk, directory outputs and stale temps."""

import contextlib
import os
import stat
import subprocess
import sys

import pytest

from tfforge import _io
from tfforge.errors import OutputError

DEAD_PID = 999_999_999  # above any pid_max: never a running process

# A GraphDef with one node {name: "a" op: "NoOp"}: field 1 (node) holding NodeDef fields 1 and 2.
GRAPH = bytes([0x0A, 0x09, 0x0A, 0x01]) + b"a" + bytes([0x12, 0x04]) + b"NoOp"


@contextlib.contextmanager
def umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def python_write(path, data):
    _io.write_bytes(path, data)


def native_write(path, data):
    from tfforge.graph import Graph
    assert data == GRAPH
    Graph.from_bytes(GRAPH).save(str(path))


WRITERS = [pytest.param(python_write, id="python"), pytest.param(native_write, id="native")]


def leftovers(directory, keep=()):
    return sorted(n for n in os.listdir(directory) if n not in keep)


@pytest.mark.parametrize("write", WRITERS)
@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_mode_follows_umask(tmp_path, write, mask, mode):
    out = tmp_path / "out.pb"
    with umask(mask):
        write(out, GRAPH)
    assert stat.S_IMODE(out.stat().st_mode) == mode
    assert out.read_bytes() == GRAPH
    assert leftovers(tmp_path) == ["out.pb"]


@pytest.mark.parametrize("write", WRITERS)
def test_replacing_a_0644_file_keeps_0644_under_umask_022(tmp_path, write):
    out = tmp_path / "out.pb"
    out.write_bytes(b"old")
    out.chmod(0o644)
    with umask(0o022):
        write(out, GRAPH)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert out.read_bytes() == GRAPH


def test_temp_names_are_unpredictable_and_beside_the_target(tmp_path):
    target = tmp_path / "model.pb"
    names = {_io.temp_name(target) for _ in range(64)}
    assert len(names) == 64
    for n in names:
        assert os.path.dirname(n) == str(tmp_path)
        assert os.path.basename(n).startswith(".model.pb.tmp-%d-" % os.getpid())
        assert len(os.path.basename(n).rsplit("-", 1)[1]) == 16


@pytest.mark.parametrize("write", WRITERS)
def test_planted_symlinks_at_predictable_names_are_never_followed(tmp_path, write):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "out.pb"
    pid = os.getpid()
    planted = [f"out.pb.tmp-{pid}", f".out.pb.tmp-{pid}", f".out.pb.tmp-{pid}-0", "out.pb.tmp", ".out.pb.tmp"]
    for name in planted:
        os.symlink(victim, tmp_path / name)
    write(out, GRAPH)
    assert victim.read_bytes() == b"precious"
    assert out.read_bytes() == GRAPH and not out.is_symlink()
    assert leftovers(tmp_path) == sorted(planted + ["out.pb", "victim"])


def test_a_symlink_at_the_target_is_replaced_not_written_through(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    out = tmp_path / "out.pb"
    os.symlink(victim, out)
    _io.write_bytes(out, b"new")
    assert victim.read_bytes() == b"precious"
    assert not out.is_symlink() and out.read_bytes() == b"new"


def test_failure_inside_the_block_keeps_the_old_file_and_leaves_nothing(tmp_path):
    out = tmp_path / "out.bin"
    out.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="boom"):
        with _io.atomic_write(out) as f:
            f.write(b"half of the new")
            raise RuntimeError("boom")
    assert out.read_bytes() == b"old contents"
    assert leftovers(tmp_path) == ["out.bin"]


def test_text_mode_and_complete_after_commit(tmp_path):
    out = tmp_path / "spec.json"
    with _io.atomic_write(out, "w") as f:
        f.write("{\"a\": \"\u00e9\"}\n")
        assert not out.exists()  # invisible until the block completes
    assert out.read_text(encoding="utf-8") == "{\"a\": \"\u00e9\"}\n"
    with pytest.raises(ValueError):
        with _io.atomic_write(out, "a"):
            pass


def test_native_failure_keeps_the_old_file_and_leaves_nothing(tmp_path):
    """A failure in the C++ graph writer after its bytes were written (the graph's source file changed
    meanwhile, found before the commit): the old output stays and the temporary file is removed."""
    import numpy as np

    from tfforge import graph
    from tfforge.errors import GraphError
    src = tmp_path / "src.pb"
    big = graph.Graph.from_bytes(GRAPH)
    big.replace_with_const("a", np.zeros(5 << 20, np.float32), borrow=True)  # 20 MB: memory-mapped when read
    big.save(str(src))
    g = graph.load(str(src))
    out = tmp_path / "frozen.pb"
    out.write_bytes(b"old")
    with open(src, "ab") as f:
        f.write(GRAPH)
    with pytest.raises(GraphError, match="changed"):
        g.save(str(out))
    assert out.read_bytes() == b"old"
    assert leftovers(tmp_path) == ["frozen.pb", "src.pb"]


@pytest.mark.parametrize("write", WRITERS)
def test_read_only_directory_is_one_output_error_naming_the_path(tmp_path, write):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only directories")
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="ro/out.pb"):
            write(d / "out.pb", GRAPH)
    finally:
        d.chmod(0o755)


@pytest.mark.parametrize("write", WRITERS)
def test_read_only_file_system_is_one_output_error_naming_the_path(tiny_tmpfs, write):
    r = subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], capture_output=True)
    if r.returncode != 0:
        pytest.skip("cannot remount read-only")
    with pytest.raises(Exception, match="tmpfs/out.pb.*Read-only") as info:
        write(tiny_tmpfs / "out.pb", GRAPH)
    assert isinstance(info.value, (OutputError, OSError)) or type(info.value).__name__ == "GraphError"
    assert os.listdir(tiny_tmpfs) == []


def test_read_only_file_system_from_the_cli_is_one_line(tiny_tmpfs, tmp_path, capsys):
    from tfforge.cli.main import main
    src = tmp_path / "g.pb"
    src.write_bytes(GRAPH)
    subprocess.run(["mount", "-o", "remount,ro", str(tiny_tmpfs)], check=True)
    for argv in (["graph", "to-text", src, tiny_tmpfs / "g.pbtxt"],
                 ["graph", "transform", src, tiny_tmpfs / "o.pb", "--transforms", "remove_device"]):
        assert main([str(a) for a in argv]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(tiny_tmpfs) in err and "Read-only" in err, err


def test_missing_directory_is_an_output_error(tmp_path):
    with pytest.raises(OutputError, match="nope/out.bin"):
        _io.write_bytes(tmp_path / "nope" / "out.bin", b"x")


def _run_limited(code, limit):
    """Runs python -c code with RLIMIT_FSIZE=limit and SIGXFSZ ignored: writes past it fail (EFBIG)."""
    def pre():
        import resource
        import signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=pre, timeout=120)


@pytest.mark.parametrize("api", ["python", "native", "cli"])
def test_file_size_limit_gives_one_line_and_leaves_nothing(tmp_path, api):
    out = tmp_path / "big.out"
    out.write_bytes(b"old")
    if api == "python":
        code = f"from tfforge import _io; _io.write_bytes({str(out)!r}, b'x' * 200000)"
    elif api == "native":
        code = ("from tfforge.graph import Graph; g = Graph.from_bytes(" + repr(GRAPH) + "); "
                "g.replace_with_const('a', __import__('numpy').zeros(100000, 'float32')); "
                f"g.save({str(out)!r})")
    else:
        src = tmp_path / "src.pbtxt"
        src.write_text("node { name: 'a' op: 'NoOp' }\n" * 20000)
        code = ("import sys; from tfforge.cli.main import main; "
                f"sys.exit(main(['graph', 'from-text', {str(src)!r}, {str(out)!r}]))")
    r = _run_limited(code, 65536)
    assert r.returncode != 0
    assert out.read_bytes() == b"old"
    assert [n for n in leftovers(tmp_path) if n.startswith(".")] == []
    if api == "cli":
        assert r.returncode == 1, r.stderr
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
        assert "big.out" in r.stderr and "too large" in r.stderr.lower(), r.stderr
    else:
        assert "OutputError" in r.stderr or "GraphError" in r.stderr, r.stderr
        assert "big.out" in r.stderr


@pytest.fixture
def tiny_tmpfs(tmp_path):
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.mark.parametrize("write", WRITERS)
def test_full_disk_gives_one_error_and_leaves_nothing(tiny_tmpfs, write):
    out = tiny_tmpfs / "out.pb"
    out.write_bytes(b"old")
    if write is native_write:
        from tfforge.graph import Graph
        import numpy as np
        g = Graph.from_bytes(GRAPH)
        g.replace_with_const("a", np.zeros(200_000, np.float32))
        with pytest.raises(Exception, match="out.pb.*(space|No space)"):
            g.save(str(out))
    else:
        with pytest.raises(OutputError, match="out.pb.*No space"):
            _io.write_bytes(out, b"x" * 1_000_000)
    assert out.read_bytes() == b"old"
    assert leftovers(tiny_tmpfs) == ["out.pb"]


def test_full_disk_from_the_cli_is_one_line(tiny_tmpfs, tmp_path):
    src = tmp_path / "src.pbtxt"
    src.write_text("node { name: 'a' op: 'NoOp' }\n" * 60000)  # 660 KB of GraphDef, 256 KB of disk
    r = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "graph", "from-text", str(src),
                        str(tiny_tmpfs / "out.pb")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "out.pb" in r.stderr and "space" in r.stderr, r.stderr
    assert leftovers(tiny_tmpfs) == []


@pytest.fixture(params=["exchange", "two-renames"])
def directory_swap(request, monkeypatch):
    """atomic_directory swaps directories with renameat2(RENAME_EXCHANGE), or with two renames where
    the file system cannot: both ways are tested."""
    if request.param == "two-renames":
        monkeypatch.setattr(_io, "_exchange", lambda a, b: False)
    return request.param


def test_atomic_directory_replaces_only_when_complete(tmp_path, directory_swap):
    target = tmp_path / "saved_model"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with _io.atomic_directory(target) as tmp:
            (open(os.path.join(tmp, "half"), "w")).close()
            raise RuntimeError("conversion failed")
    assert sorted(os.listdir(target)) == ["old.txt"]
    assert leftovers(tmp_path) == ["saved_model"]
    with umask(0o022):
        with _io.atomic_directory(target) as tmp:
            os.mkdir(os.path.join(tmp, "variables"))
            with open(os.path.join(tmp, "saved_model.pb"), "wb") as f:
                f.write(b"new")
            assert not os.path.exists(target / "saved_model.pb")
    assert sorted(os.listdir(target)) == ["saved_model.pb", "variables"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert leftovers(tmp_path) == ["saved_model"]


def test_atomic_directory_refuses_to_replace_a_file(tmp_path):
    target = tmp_path / "out"
    target.write_text("a file")
    with pytest.raises(OutputError, match="not a directory"):
        with _io.atomic_directory(target):
            pass
    assert target.read_text() == "a file"
    assert leftovers(tmp_path) == ["out"]


def test_stale_temps_of_dead_processes_are_removed_by_the_next_write(tmp_path):
    stale_file = tmp_path / f".out.pb.tmp-{DEAD_PID}-0123456789abcdef"
    stale_file.write_bytes(b"x" * 100)
    stale_dir = tmp_path / f".out.pb.tmp-{DEAD_PID}-fedcba9876543210"
    stale_dir.mkdir()
    (stale_dir / "inner").write_bytes(b"y")
    live = tmp_path / f".out.pb.tmp-{os.getpid()}-0123456789abcdef"  # a write in flight: kept
    live.write_bytes(b"z")
    other = tmp_path / f".other.tmp-{DEAD_PID}-0123456789abcdef"  # another output's temp: kept
    other.write_bytes(b"w")
    _io.write_bytes(tmp_path / "out.pb", b"new")
    assert leftovers(tmp_path) == sorted(["out.pb", live.name, other.name])
    assert _io.cleanup_stale_temps(str(tmp_path), "other") == 1
    assert leftovers(tmp_path) == sorted(["out.pb", live.name])


def test_native_writer_removes_stale_temps_too(tmp_path):
    stale = tmp_path / f".out.pb.tmp-{DEAD_PID}-0123456789abcdef"
    stale.write_bytes(b"x")
    native_write(tmp_path / "out.pb", GRAPH)
    assert leftovers(tmp_path) == ["out.pb"]


def test_temps_of_a_sigkilled_writer_are_removed_by_the_next_write(tmp_path):
    out = tmp_path / "out.bin"
    code = ("import sys, time; from tfforge import _io\n"
            f"with _io.atomic_write({str(out)!r}) as f:\n"
            "    f.write(b'x' * 1000); f.flush(); print('ready', flush=True); time.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.kill()
    p.wait()
    (temp,) = os.listdir(tmp_path)
    assert temp.startswith(".out.bin.tmp-%d-" % p.pid)
    _io.write_bytes(out, b"done")
    assert leftovers(tmp_path) == ["out.bin"]
