"""TFRecord file-level trust: datasets appear only complete, readers refuse incomplete ones, interrupted and
killed runs leave nothing behind, native readers and writers are safe to share between threads, counting
and verifying stream their CRC checks, non-regular files are refused, outputs honour the umask and never
follow a planted symlink."""

import glob
import os
import signal
import stat
import struct
import subprocess
import sys
import textwrap
import threading
import time
import zlib

import numpy as np
import pytest

import tfforge.records as records
from tfforge import _native
from tfforge.errors import ClosedError, SpecError, TfforgeError


def frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", records.masked_crc32c(length)) + data
            + struct.pack("<I", records.masked_crc32c(data)))


def visible(folder) -> list[str]:
    return sorted(os.listdir(folder))


def child(code: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def wait_for_line(proc, text: str, timeout: float = 120):
    """Reads the child's stdout until a line contains `text` (the child flushes it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if text in line:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child ended ({proc.returncode}): {proc.stderr.read()}")
    raise AssertionError(f"child did not print {text!r}")


# --- a dataset appears only complete -----------------------------------------------------------------


def test_rewrite_with_fewer_shards_replaces_the_dataset_wholly(tmp_path):
    prefix = str(tmp_path / "ds")
    records.write({"x": np.arange(40)}, prefix, shards=4, progress=False)
    paths = records.write({"x": np.arange(10)}, prefix, shards=2, progress=False)
    assert visible(tmp_path) == sorted([os.path.basename(p) for p in paths] + ["ds.spec.json"])
    assert records.count(prefix) == 10 and records.count(str(tmp_path / "ds-*")) == 10


def test_reader_refuses_an_incomplete_shard_set(tmp_path):
    prefix = str(tmp_path / "ds")
    paths = records.write({"x": np.arange(40)}, prefix, shards=4, progress=False)
    os.unlink(f"{prefix}.spec.json")
    os.unlink(paths[2])
    for call in (lambda: records.count(prefix), lambda: list(records.read(prefix)),
                 lambda: records.verify(prefix), lambda: records.count(f"{prefix}-*")):
        with pytest.raises(TfforgeError, match=r"incomplete dataset: 1 of 4 shards missing \(ds-00002-of-00004"):
            call()
    assert records.count(paths[:2]) == 20  # files named one by one are read as they are


def test_reader_refuses_a_spec_listing_missing_shards(tmp_path):
    prefix = str(tmp_path / "ds")
    paths = records.write({"x": np.arange(40)}, prefix, shards=4, progress=False)
    os.unlink(paths[3])
    with pytest.raises(TfforgeError, match=r"spec file lists 4 shards, 1 are missing \(ds-00003-of-00004"):
        records.count(prefix)


def test_reader_refuses_two_shard_counts_under_one_name(tmp_path):
    prefix = str(tmp_path / "ds")
    records.write({"x": np.arange(4)}, prefix, shards=2, progress=False)
    os.rename(f"{prefix}.spec.json", tmp_path / "keep.json")
    records.write({"x": np.arange(4)}, str(tmp_path / "other" / "ds"), shards=1, progress=False)
    os.rename(tmp_path / "other" / "ds-00000-of-00001.tfrecord", f"{prefix}-00000-of-00001.tfrecord")
    with pytest.raises(TfforgeError, match="shards of 2 datasets share the name ds"):
        records.count(prefix)


def test_blocked_name_leaves_no_partial_dataset(tmp_path):
    prefix = str(tmp_path / "ds")
    os.mkdir(f"{prefix}-00001-of-00004.tfrecord")
    with pytest.raises(TfforgeError, match="a folder has this name"):
        records.write({"x": np.arange(40)}, prefix, shards=4, progress=False)
    assert visible(tmp_path) == ["ds-00001-of-00004.tfrecord"]


def test_full_disk_while_writing_the_spec_leaves_nothing(tmp_path, monkeypatch):
    import errno
    import json

    prefix = str(tmp_path / "ds")
    records.write({"x": np.arange(8)}, prefix, shards=2, progress=False)
    before = {p: open(tmp_path / p, "rb").read() for p in visible(tmp_path)}

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(json, "dump", full)
    with pytest.raises(TfforgeError, match="No space left on device") as e:
        records.write({"x": np.arange(30)}, prefix, shards=3, progress=False)
    assert e.value.path == f"{prefix}.spec.json"
    # The failure came before the commit: the earlier dataset is untouched, no temporary file is left.
    assert {p: open(tmp_path / p, "rb").read() for p in visible(tmp_path)} == before


def test_file_size_limit_while_writing_shards_is_one_line(tmp_path):
    """A write error (EFBIG under RLIMIT_FSIZE, the way a full disk shows) is one CLI line, exit 1, and no
    output at all."""
    np.savez(tmp_path / "src.npz", x=np.arange(200_000))
    out = tmp_path / "out"
    code = f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
        from tfforge.cli.main import main
        sys.exit(main(["records", "convert", {str(tmp_path / 'src.npz')!r}, {str(out / 'ds')!r}, "--shards", "2",
                       "--no-progress"]))
    """
    p = child(code)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 1, err
    assert err.count("\n") == 1 and "File too large" in err and "Traceback" not in err
    assert visible(out) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to another user")
def test_read_only_folder_is_one_line():
    import pathlib
    import shutil
    import tempfile

    tmp_path = pathlib.Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's folders are private to root
    os.chmod(tmp_path, 0o755)
    np.savez(tmp_path / "src.npz", x=np.arange(10))
    os.chmod(tmp_path / "src.npz", 0o644)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o755)
    code = f"""
        import os, sys
        from tfforge.cli.main import build_parser, main
        # Python's own files are root's: load what the command needs before leaving root.
        import encodings.cp437, zipfile, json, secrets, numpy, tfforge._console, tfforge.records.sources, tfforge.records._commit
        build_parser()
        os.setgid(65534); os.setuid(65534)
        sys.exit(main(["records", "convert", {str(tmp_path / 'src.npz')!r}, {str(locked / 'ds')!r}, "--no-progress"]))
    """
    p = child(code)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 1 and err.count("\n") == 1 and "Permission denied" in err and "Traceback" not in err, err
    assert visible(locked) == []
    shutil.rmtree(tmp_path)


def test_outputs_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        paths = records.write({"x": np.arange(4)}, str(tmp_path / "ds"), shards=2, progress=False)
        with records.Writer(tmp_path / "one.tfrecord") as w:
            w.write_serialized(b"x")
    finally:
        os.umask(old)
    for p in paths + [str(tmp_path / "ds.spec.json"), str(tmp_path / "one.tfrecord")]:
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o640, p


def test_a_planted_symlink_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    prefix = tmp_path / "ds"
    for name in ("ds-00000-of-00001.tfrecord", "ds.spec.json", "one.tfrecord"):
        os.symlink(victim, tmp_path / name)
    records.write({"x": np.arange(3)}, str(prefix), progress=False)
    with records.Writer(tmp_path / "one.tfrecord") as w:
        w.write_serialized(b"x")
    assert victim.read_bytes() == b"precious"
    for name in ("ds-00000-of-00001.tfrecord", "ds.spec.json", "one.tfrecord"):
        assert not os.path.islink(tmp_path / name)
    assert records.count(str(prefix)) == 3


def test_temporary_names_are_unpredictable_and_leftovers_of_dead_runs_are_removed(tmp_path):
    w1, w2 = records.Writer(tmp_path / "f"), records.Writer(tmp_path / "f")
    names = visible(tmp_path)
    assert len(names) == 2 and names[0] != names[1] and all(n.startswith(".f.tmp-") for n in names)
    w1.abort()
    w2.abort()
    # Leftovers of a process that no longer exists (pid 2**22 + 1 is beyond the default pid_max).
    dead = 2**22 + 1
    for name in (f".ds-00000-of-00002.tfrecord.tmp-{dead}-0123456789abcdef", f".ds.spec.json.tmp-{dead}-0123456789abcdef",
                 f".ds-00003.partial.tmp-{dead}-0123456789abcdef", f".f.tmp-{dead}-0123456789abcdef"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / f".ds-00000-of-00002.tfrecord.tmp-{os.getppid()}-0123456789abcdef").write_bytes(b"alive")
    (tmp_path / f".other.spec.json.tmp-{dead}-0123456789abcdef").write_bytes(b"another dataset")
    records.write({"x": np.arange(3)}, str(tmp_path / "ds"), progress=False)
    with records.Writer(tmp_path / "f") as w:
        w.write_serialized(b"x")
    assert visible(tmp_path) == sorted([f".ds-00000-of-00002.tfrecord.tmp-{os.getppid()}-0123456789abcdef",
                                        f".other.spec.json.tmp-{dead}-0123456789abcdef", "ds-00000-of-00001.tfrecord",
                                        "ds.spec.json", "f"])


def _endless_writer(folder: str) -> str:
    return f"""
        import numpy as np, sys
        from tfforge import records
        def batches():
            yield {{"x": np.arange(100_000)}}
            print("writing", flush=True)
            while True:
                yield {{"x": np.arange(100_000)}}
        records.write(batches(), {os.path.join(folder, 'ds')!r}, shards=3, progress=False)
    """


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, -signal.SIGINT), (signal.SIGTERM, 143)])
def test_interrupt_and_terminate_remove_everything(tmp_path, sig, code):
    p = child(_endless_writer(str(tmp_path)))
    wait_for_line(p, "writing")
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    if sig == signal.SIGINT:
        assert "KeyboardInterrupt" in err
    assert visible(tmp_path) == []


def test_killed_run_leftovers_are_removed_by_the_next_write(tmp_path):
    p = child(_endless_writer(str(tmp_path)))
    wait_for_line(p, "writing")
    p.kill()
    p.wait(timeout=60)
    assert len(visible(tmp_path)) == 3 and all(".tmp-" in n for n in visible(tmp_path))
    records.write({"x": np.arange(5)}, str(tmp_path / "ds"), progress=False)
    assert visible(tmp_path) == ["ds-00000-of-00001.tfrecord", "ds.spec.json"]


def test_sigint_stops_a_long_native_count(tmp_path):
    """One native call over a large file stops for Ctrl-C instead of running to its end."""
    path = str(tmp_path / "big.tfrecord")
    with open(path, "wb") as f:
        f.write(frame(b"x" * 10) * 2_000_000)  # 52 MB of tiny records
    p = child(f"""
        from tfforge import records
        print("counting", flush=True)
        while True:
            records.verify({path!r})
    """)
    wait_for_line(p, "counting")
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == -signal.SIGINT and "KeyboardInterrupt" in err


# --- threads ---------------------------------------------------------------------------------------------


def _numbered_file(path, n):
    with records.Writer(path) as w:
        for i in range(n):
            w.write_serialized(b"%08d" % i)


def test_a_native_reader_shared_by_threads_hands_out_each_record_once(tmp_path):
    """Four threads drain one _native.RecordReader; before it took a lock, records were lost or doubled, CRCs
    failed falsely and the process could crash."""
    path = str(tmp_path / "n.tfrecord")
    n = 200_000
    _numbered_file(path, n)
    for _ in range(3):
        reader = _native.RecordReader(path)
        got, errors = [], []

        def drain():
            try:
                while chunk := reader.read(3):
                    got.extend(chunk)
            except Exception as exc:  # noqa: BLE001 - any error fails the test below
                errors.append(exc)

        threads = [threading.Thread(target=drain) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(got) == n and sorted(got) == [b"%08d" % i for i in range(n)]


def test_random_reader_and_writer_shared_by_threads(tmp_path):
    path = str(tmp_path / "w.tfrecord")
    with records.Writer(path) as w:
        def put(k):
            for i in range(5000):
                w.write_serialized(b"%d-%05d" % (k, i))

        threads = [threading.Thread(target=put, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    recs = list(records.iter_raw(path))
    assert sorted(recs) == sorted(b"%d-%05d" % (k, i) for k in range(4) for i in range(5000))
    offsets, off = [], 0
    reader = records.RandomReader(path)
    while True:
        offsets.append(off)
        try:
            _, off = reader.read(off)
        except IndexError:
            break
    results = {}

    def fetch(k):
        results[k] = [reader.read(o)[0] for o in offsets[k:-1:4]]

    threads = [threading.Thread(target=fetch, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        assert results[k] == recs[k::4]


# --- resources and special files -------------------------------------------------------------------------


def test_fifo_is_refused_not_waited_on(tmp_path):
    fifo = str(tmp_path / "pipe.tfrecord")
    os.mkfifo(fifo)
    outcome = []

    def attempt():
        for call in (lambda: records.count(fifo), lambda: list(records.read([fifo])),
                     lambda: records.verify([fifo]), lambda: records.iter_raw(fifo),
                     lambda: records.RandomReader(fifo), lambda: _native.RecordReader(fifo, "none"),
                     lambda: records.head(fifo)):
            try:
                call()
                outcome.append("no error")
            except TfforgeError as exc:
                outcome.append(str(exc))

    t = threading.Thread(target=attempt, daemon=True)
    t.start()
    t.join(timeout=60)
    assert not t.is_alive(), "a FIFO blocked the reader"
    assert len(outcome) == 7 and all("not a regular file" in o for o in outcome), outcome


def test_count_and_verify_stream_a_huge_record(tmp_path):
    """A small .gz holding one 256 MiB record: count and verify check it in constant memory."""
    size = 1 << 28
    chunk = bytes(1 << 24)
    crc = 0
    for _ in range(size // len(chunk)):
        crc = records.crc32c(chunk, crc)
    head = struct.pack("<Q", size)
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [comp.compress(head + struct.pack("<I", records.masked_crc32c(head)))]
    for _ in range(size // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.compress(struct.pack("<I", _native.mask_crc32c(crc))) + comp.flush())
    path = str(tmp_path / "huge.tfrecord.gz")
    with open(path, "wb") as f:
        f.write(b"".join(parts))
    assert os.path.getsize(path) < 8 << 20
    p = child(f"""
        import resource
        from tfforge import records
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = records.count({path!r})
        report = records.verify({path!r})
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(n, report.ok, report.records, grew)
    """)
    out, err = p.communicate(timeout=600)
    n, ok, recs, grew = out.split()
    assert (n, ok, recs) == ("1", "True", "1"), err
    assert int(grew) < 64_000  # KB: buffers, never the record
    bad = records.verify(path, examples=True, max_record_bytes=1 << 20)
    assert not bad.ok and "exceeds the limit of 1048576 bytes" in bad.errors[0]["reason"]


# --- arguments, writer and CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"compression": 5}, {"compression": "bz2"}, {"level": 11}, {"level": "9"},
                                    {"workers": 0}, {"workers": "2"}, {"atomic": "no"}])
def test_writer_bad_arguments_are_value_errors(tmp_path, kwargs):
    with pytest.raises(ValueError):
        records.Writer(tmp_path / "f", **kwargs)
    assert visible(tmp_path) == []


@pytest.mark.parametrize("kwargs", [{"shards": 0}, {"shards": 2.5}, {"shards": 100000}, {"records_per_shard": 0},
                                    {"compression": 1}, {"workers": 10**6}])
def test_write_bad_arguments_are_value_errors(tmp_path, kwargs):
    with pytest.raises(ValueError):
        records.write({"x": [1]}, str(tmp_path / "ds"), progress=False, **kwargs)
    assert visible(tmp_path) == []


def test_writer_flush_and_closed_errors(tmp_path):
    w = records.Writer(tmp_path / "f", "gzip", atomic=False)
    w.write_serialized(b"one")
    w.flush()
    assert list(records.iter_raw(tmp_path / "f", "gzip")) == [b"one"]
    w.close()
    with pytest.raises(ClosedError):
        w.flush()
    with pytest.raises(ClosedError):
        w.write_serialized(b"two")


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", "tfforge.cli.main", *argv], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=300)


@pytest.mark.parametrize("argv", [["convert", "SRC", "OUT", "--shards", "0"], ["head", "F", "-n", "-1"],
                                  ["inspect", "F", "-n", "-2"], ["convert", "SRC", "OUT", "--workers", "0"],
                                  ["convert", "SRC", "OUT", "--shards", "100000"],
                                  ["convert", "SRC", "OUT", "--workers", str(2**63 - 1)],
                                  ["head", "F", "-n", "99999999999999999999999"]])
def test_cli_rejects_impossible_counts(tmp_path, argv):
    np.savez(tmp_path / "src.npz", x=np.arange(3))
    _numbered_file(str(tmp_path / "f"), 3)
    argv = [{"SRC": str(tmp_path / "src.npz"), "OUT": str(tmp_path / "o" / "ds"), "F": str(tmp_path / "f")}.get(a, a)
            for a in argv]
    r = run_cli("records", *argv)
    assert r.returncode == 2 and "must be at " in r.stderr and "Traceback" not in r.stderr
    assert not os.path.exists(tmp_path / "o")


def _example(key: bytes, value: int) -> bytes:
    def ld(field: int, payload: bytes) -> bytes:
        return bytes([field << 3 | 2, len(payload)]) + payload

    int64_list = ld(1, bytes([value]))
    entry = ld(1, key) + ld(2, ld(3, int64_list))
    return ld(1, ld(1, entry))


def test_non_utf8_feature_key(tmp_path):
    """A key that is not UTF-8 is printed escaped by head/inspect/verify and read under a surrogate-escaped
    name that writes back the same bytes; never a UnicodeDecodeError."""
    path = str(tmp_path / "k.tfrecord")
    raw = [None, _example(b"bad\xff\xfe", 2)]
    with records.Writer(path) as w:
        w.write_serialized(raw[1])
    rows = records.head(path)
    assert rows == [{"bad\udcff\udcfe": ("int64", [2])}]
    batch = next(iter(records.read(path)))
    assert batch["bad\udcff\udcfe"].tolist() == [2]
    with records.Writer(tmp_path / "again.tfrecord") as w:
        w.write(batch)
    assert list(records.iter_raw(tmp_path / "again.tfrecord")) == [raw[1]]
    for argv in (["head", path], ["head", path, "--json"], ["inspect", path], ["verify", path, "--examples"]):
        r = run_cli("records", *argv)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (argv, r.stderr)
        if argv[0] != "verify":  # JSON escapes the backslash once more
            assert "bad\\xff\\xfe" in r.stdout.replace("\\\\", "\\"), (argv, r.stdout)


def test_stray_file_in_image_folder_is_reported(tmp_path):
    PIL = pytest.importorskip("PIL.Image")
    root = tmp_path / "images"
    (root / "cat").mkdir(parents=True)
    PIL.new("RGB", (4, 4)).save(root / "cat" / "a.png")
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".DS_Store").write_bytes(b"")
    r = run_cli("records", "convert", str(root), str(tmp_path / "out" / "ds"), "--no-progress")
    assert r.returncode == 0, r.stderr
    warning = [line for line in r.stderr.splitlines() if line.startswith("tfforge: warning:")]
    assert len(warning) == 1 and "cat/notes.txt" in warning[0] and ".DS_Store" not in warning[0]
    with pytest.warns(UserWarning, match="notes.txt"):
        records.convert(str(root), str(tmp_path / "api" / "ds"), progress=False)
    assert records.count(str(tmp_path / "out" / "ds")) == 1


def test_head_rejects_negative_counts(tmp_path):
    _numbered_file(str(tmp_path / "f"), 2)
    with pytest.raises(SpecError):
        records.head(str(tmp_path / "f"), -1)
    assert glob.glob(str(tmp_path / "*")) == [str(tmp_path / "f")]


def test_in_place_writer_refuses_a_symlink(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    os.symlink(victim, tmp_path / "f")
    with pytest.raises(TfforgeError, match="cannot create"):
        records.Writer(tmp_path / "f", atomic=False)
    assert victim.read_bytes() == b"precious"


def test_raw_readers_on_a_damaged_compressed_stream(tmp_path):
    path = tmp_path / "d.tfrecord.zz"
    with records.Writer(path, "zlib") as w:
        for i in range(2000):
            w.write_serialized(os.urandom(50) + b"%d" % i)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    it = records.iter_raw(path)
    got = []
    for _ in range(2):  # the error repeats at the same place, the records before it came out once
        with pytest.raises(TfforgeError, match="compressed data is corrupt|corrupted record"):
            for r in it:
                got.append(r)
    assert 0 < len(got) < 2000 and it.offset > 0
    with pytest.raises(TfforgeError):
        records.RandomReader(path).read(it.offset)
