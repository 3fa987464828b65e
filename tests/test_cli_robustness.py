"""Drives every CLI command (enumerated from the parser, so new commands are covered automatically)
with malformed files, wrong types and impossible arguments, in-process through main(argv). Each run
must end with a documented exit code other than 70 (internal error), no traceback on stderr, at
most one line on stderr for a failure, and no temporary file left behind."""

import argparse
import io
import os
import signal
import struct
import zipfile

import numpy as np
import pytest

from tfforge.cli import main as cli

# A GraphDef with one node {name: "a" op: "NoOp"}.
GRAPH = bytes([0x0A, 0x09, 0x0A, 0x01]) + b"a" + bytes([0x12, 0x04]) + b"NoOp"
OUTPUT_NAMES = {"dst", "out", "output", "prefix", "logdir"}
# Commands that never take an input file and whose runs are long (a benchmark, the demo) or only
# report the installation: covered by the parse-level cases only.
NO_RUN = {("bench", "ops"), ("demo",), ("doctor",)}
# (command, case) -> why it still fails, for findings outside the CLI frame. Keep empty when possible.
KNOWN: dict[tuple[str, str], str] = {}


def commands(parser=None, prefix=()):
    parser = parser or cli.build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    for name, sub in subs[0].choices.items():
        yield from commands(sub, prefix + (name,))


COMMANDS = list(commands())


def _tfrecord(payloads):
    from tfforge._native import masked_crc32c
    out = b""
    for p in payloads:
        n = struct.pack("<Q", len(p))
        out += n + struct.pack("<I", masked_crc32c(n)) + p + struct.pack("<I", masked_crc32c(p))
    return out


def _npz():
    buf = io.BytesIO()
    np.savez(buf, x=np.arange(6, dtype=np.float32).reshape(3, 2), y=np.arange(3))
    return buf.getvalue()


def _keras_zip():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("config.json", '{"class_name": "Sequential", "config": {"layers": []}}')
        z.writestr("metadata.json", '{"keras_version": "3.0.0"}')
    return buf.getvalue()


# A valid small file per extension; "truncated" cases cut it in half.
VALID = {
    ".pb": lambda: GRAPH * 3,
    ".pbtxt": lambda: b"node { name: 'a' op: 'NoOp' }\nnode { name: 'b' op: 'Const' attr { key: 'dtype' value { type: DT_FLOAT } } }\n",
    ".tfrecord": lambda: _tfrecord([b"\x0a\x00", b"\x0a\x0c\x0a\x0a\x0a\x01x\x12\x05\x1a\x03\x0a\x01\x07"]),
    ".npz": _npz,
    ".keras": _keras_zip,
    ".csv": lambda: b"a,b\n1,2\n3,4\n",
    ".tflite": lambda: b"\x1c\x00\x00\x00TFL3" + bytes(64),
    ".h5": lambda: b"\x89HDF\r\n\x1a\n" + bytes(64),
}


# Inputs the issue names: an Example whose feature key is not UTF-8, and a Placeholder whose dtype
# attr holds a string instead of a type.
_NODE = b"\x0a\x01p\x12\x0bPlaceholder\x2a\x0c\x0a\x05dtype\x12\x03\x12\x01x"
CRAFTED = {
    ".tfrecord": lambda: _tfrecord([b"\x0a\x0c\x0a\x0a\x0a\x01\xff\x12\x05\x1a\x03\x0a\x01\x07"]),
    ".pb": lambda: b"\x0a" + bytes([len(_NODE)]) + _NODE,
}


def _random(n=4096, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def malformed_inputs():
    cases = [("missing", ".pb"), ("directory", "")]
    for ext in VALID:
        cases += [("random", ext), ("empty", ext), ("truncated", ext)]
    cases += [("non-utf8-text", ".pbtxt"), ("non-utf8-text", ".csv")]
    cases += [("crafted", ext) for ext in CRAFTED]
    return cases


def make_input(tmp_path, kind, ext):
    path = tmp_path / f"in{ext}"
    if kind == "missing":
        return path
    if kind == "directory":
        path = tmp_path / "in_dir"
        path.mkdir()
        (path / "junk.bin").write_bytes(_random(64))
        return path
    data = {"random": lambda: _random(), "empty": lambda: b"",
            "truncated": lambda: VALID[ext]()[: max(1, len(VALID[ext]()) // 2)],
            "non-utf8-text": lambda: b"node { name: '\xff\xfe' op: 'NoOp' }\n\xc3\x28,\xff\n",
            "crafted": lambda: CRAFTED.get(ext, lambda: b"")()}[kind]()
    path.write_bytes(data)
    return path


class _Timeout(BaseException):
    pass


def run(argv, capsys, tmp_path):
    def alarm(signum, frame):
        raise _Timeout()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(120)
    try:
        code = cli.main([str(a) for a in argv])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    return code, out, err


def check(code, err, tmp_path, key, allowed=(0, 1, 2, 3)):
    problems = []
    if "Traceback (most recent call last)" in err:
        problems.append("a traceback on stderr")
    if code not in allowed:
        problems.append(f"exit code {code}")
    if code not in (0, 2) and len(err.strip().splitlines()) > 1:
        problems.append(f"{len(err.strip().splitlines())} lines on stderr")
    leftovers = [str(p.relative_to(tmp_path)) for p in tmp_path.rglob(".*.tmp-*")]
    if leftovers:
        problems.append(f"temporary files left: {leftovers}")
    if problems:
        if key in KNOWN:
            pytest.xfail(KNOWN[key])
        pytest.fail(f"{' '.join(key)}: {', '.join(problems)}\nstderr: {err[-2000:]}")


def positionals(parser):
    return [a for a in parser._actions if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


def base_argv(cmd, parser, tmp_path, inp):
    argv = list(cmd)
    for a in positionals(parser):
        argv.append(tmp_path / f"out_{a.dest}" if a.dest in OUTPUT_NAMES else inp)
    for a in parser._actions:  # required options get a plausible value
        if a.option_strings and a.required:
            argv += [a.option_strings[-1], "strip_unused_nodes" if "transform" in a.dest else "x"]
    return argv


FILE_COMMANDS = [(c, p) for c, p in COMMANDS if c not in NO_RUN and positionals(p)]


@pytest.mark.parametrize("kind, ext", malformed_inputs(), ids=lambda v: v or "none")
@pytest.mark.parametrize("cmd", [c for c, _ in FILE_COMMANDS], ids=" ".join)
def test_malformed_inputs(cmd, kind, ext, tmp_path, capsys):
    parser = dict(COMMANDS)[cmd]
    inp = make_input(tmp_path, kind, ext)
    code, out, err = run(base_argv(cmd, parser, tmp_path, inp), capsys, tmp_path)
    check(code, err, tmp_path, (" ".join(cmd), f"{kind}{ext}"))
    if kind in ("missing", "random", "directory") and code == 0:
        pytest.fail(f"{' '.join(cmd)} accepted a {kind} input: {out[-500:]}")


def option_cases():
    """(cmd, option, value) for every typed option: a wrong type, a negative and a zero value."""
    for cmd, parser in COMMANDS:
        for a in parser._actions:
            if not a.option_strings or a.type not in (int, float):
                continue
            huge = ("1e400", "1e308") if a.type is float else ("99999999999999999999999", str(2**63 - 1))
            for value in ("abc", "-1", "0") + huge:
                yield cmd, a.option_strings[-1], value
            if a.type is float:
                yield cmd, a.option_strings[-1], "nan"
        for a in parser._actions:
            if a.option_strings and a.choices:
                yield cmd, a.option_strings[-1], "no-such-choice"


def valid_input_for(cmd, tmp_path):
    if cmd[0] == "records":
        path = tmp_path / ("in.npz" if cmd[1] == "convert" else "in.tfrecord")
        path.write_bytes(_npz() if cmd[1] == "convert" else VALID[".tfrecord"]())
        return path
    path = tmp_path / "in.pb"
    path.write_bytes(GRAPH)
    return path


@pytest.mark.parametrize("cmd, option, value", list(option_cases()),
                         ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v))
def test_wrong_types_and_impossible_values(cmd, option, value, tmp_path, capsys):
    parser = dict(COMMANDS)[cmd]
    if cmd in NO_RUN:
        if value not in ("abc", "no-such-choice"):
            pytest.skip("runs a benchmark or the demo: only parse-level errors are checked")
        argv = list(cmd) + [option, value]
    else:
        argv = base_argv(cmd, parser, tmp_path, valid_input_for(cmd, tmp_path)) + [option, value]
    code, out, err = run(argv, capsys, tmp_path)
    check(code, err, tmp_path, (" ".join(cmd), f"{option} {value}"))
    if value in ("abc", "no-such-choice"):
        assert code == 2, err


# Impossible arguments the issue names: each must be refused (non-zero), not accepted silently.
IMPOSSIBLE = [
    (("records", "convert"), ["--shards", "0"]),
    (("records", "convert"), ["--shards", "-2"]),
    (("records", "convert"), ["--records-per-shard", "0"]),
    (("records", "convert"), ["--workers", "0"]),
    (("records", "head"), ["-n", "-1"]),
    (("records", "inspect"), ["-n", "-1"]),
]


@pytest.mark.parametrize("cmd, extra", IMPOSSIBLE, ids=lambda v: " ".join(v))
def test_impossible_arguments_are_refused(cmd, extra, tmp_path, capsys):
    parser = dict(COMMANDS)[cmd]
    argv = base_argv(cmd, parser, tmp_path, valid_input_for(cmd, tmp_path)) + extra
    code, out, err = run(argv, capsys, tmp_path)
    check(code, err, tmp_path, (" ".join(cmd), " ".join(extra)))
    if code == 0:
        key = (" ".join(cmd), " ".join(extra))
        if key in KNOWN:
            pytest.xfail(KNOWN[key])
        pytest.fail(f"{' '.join(cmd)} {' '.join(extra)} was accepted")


def test_every_command_is_covered():
    names = {" ".join(c) for c, _ in COMMANDS}
    assert {"graph transform", "records count", "convert", "verify", "inspect"} <= names
    assert all(c in NO_RUN for c, p in COMMANDS if not positionals(p))


def unwritable_output(tmp_path, kind):
    if kind == "existing-directory":
        d = tmp_path / "out_dir"
        d.mkdir()
        (d / "keep.txt").write_text("keep")
        return d
    if kind == "under-a-file":
        f = tmp_path / "plain_file"
        f.write_text("x")
        return f / "out"
    return tmp_path / "no" / "such" / "dir" / "out"  # missing parents: created or refused, not a crash


@pytest.mark.parametrize("kind", ["existing-directory", "under-a-file", "missing-parents"])
@pytest.mark.parametrize("cmd", [c for c, p in FILE_COMMANDS if any(a.dest in OUTPUT_NAMES for a in positionals(p))],
                         ids=" ".join)
def test_outputs_that_cannot_be_written(cmd, kind, tmp_path, capsys):
    parser = dict(COMMANDS)[cmd]
    inp = valid_input_for(cmd, tmp_path)
    out = unwritable_output(tmp_path, kind)
    argv = list(cmd) + [out if a.dest in OUTPUT_NAMES else inp for a in positionals(parser)]
    for a in parser._actions:
        if a.option_strings and a.required:
            argv += [a.option_strings[-1], "strip_unused_nodes"]
    code, _, err = run(argv, capsys, tmp_path)
    check(code, err, tmp_path, (" ".join(cmd), f"output {kind}"))
    if kind == "existing-directory":
        assert (out / "keep.txt").read_text() == "keep"  # never replaced by a failed or file output
    if kind == "under-a-file":
        assert code != 0
