"""The CLI frame (tfforge.cli.main): one line per failure with a documented exit code, --debug
tracebacks, a closed stdout pipe, SIGINT/SIGTERM cleanup, quiet TensorFlow, lazy heavy imports."""

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tfforge.cli import main as cli

GRAPH = bytes([0x0A, 0x09, 0x0A, 0x01]) + b"a" + bytes([0x12, 0x04]) + b"NoOp"
ENV = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TFFORGE_DEBUG")}


def run_cli(*args, env=None, **kw):
    return subprocess.run([sys.executable, "-m", "tfforge.cli.main", *args], capture_output=True, text=True,
                          env=env or ENV, timeout=300, **kw)


def test_missing_input_is_one_line_exit_1(tmp_path, capsys):
    code = cli.main(["graph", "to-text", str(tmp_path / "missing.pb"), str(tmp_path / "o.pbtxt")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("tfforge: error: ") and err.count("\n") == 1 and "missing.pb" in err


def test_usage_error_exit_2(capsys):
    assert cli.main(["graph", "transform"]) == 2
    assert "usage:" in capsys.readouterr().err
    assert cli.main(["no-such-command"]) == 2


def test_debug_anywhere_shows_the_traceback(tmp_path, capsys):
    code = cli.main(["graph", "to-text", str(tmp_path / "missing.pb"), str(tmp_path / "o.pbtxt"), "--debug"])
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback (most recent call last)" in err and err.rstrip().splitlines()[-1].startswith("tfforge: error:")


@pytest.mark.parametrize("exc, code, words", [
    (OSError(errno.ENOSPC, "No space left on device"), 1, ["no space left"]),
    (PermissionError(errno.EACCES, "Permission denied", "/ro/out.pb"), 1, ["/ro/out.pb", "Permission denied"]),
    (OSError(errno.EROFS, "Read-only file system", "/mnt/out.pb"), 1, ["/mnt/out.pb", "Read-only"]),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), 1,
     ["utf-8", "invalid start byte"]),
    (MemoryError(), 3, ["out of memory"]),
    (ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow"), 3,
     ["pyarrow", "pip install pyarrow", "--no-build-isolation '.[arrow]'"]),
    (KeyboardInterrupt(), 130, ["interrupted"]),
])
def test_exceptions_map_to_documented_codes_and_one_line(exc, code, words):
    got, line = cli.classify(exc)
    assert got == code and got in cli.EXIT_CODES
    assert "\n" not in line
    for w in words:
        assert w in line


def test_tfforge_errors_and_third_party_errors_are_exit_1_own_bugs_are_internal():
    from tfforge.errors import GraphError, TensorFlowNotInstalled
    assert cli.classify(GraphError("bad", path="x.pb", offset=3)) == (1, "x.pb, byte offset 3: bad")
    assert cli.classify(TensorFlowNotInstalled("no tf"))[0] == 3
    try:
        json.loads("{")
    except ValueError as exc:
        assert cli.classify(exc)[0] == 1
    try:
        {}["k"]  # raised outside the third-party packages: a bug of the caller
    except KeyError as exc:
        code, line = cli.classify(exc)
    assert code == cli.EXIT_INTERNAL and "KeyError" in line


def test_internal_error_is_one_line_with_the_debug_hint(monkeypatch, capsys):
    import tfforge.cli.graph as graph_cli

    def broken(args):
        raise TypeError("unexpected")
    monkeypatch.setattr(graph_cli, "_transform", broken)
    code = cli.main(["graph", "transform", "a", "b", "--transforms", "x"])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INTERNAL
    assert err.count("\n") == 1 and "--debug" in err and "TypeError: unexpected" in err


def test_closed_stdout_pipe_exits_quietly(tmp_path):
    from tfforge import records
    import numpy as np
    prefix = str(tmp_path / "d")
    records.write({"x": np.arange(20000, dtype=np.int64)}, prefix)
    path = records.resolve_paths(prefix)[0]
    r = subprocess.run(f"{sys.executable} -m tfforge.cli.main records head {path} -n 20000 --json | head -c 10"
                       f" >/dev/null; echo ${{PIPESTATUS[0]}} >&2",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, env=ENV, timeout=300)
    assert r.stderr.strip() == str(cli.EXIT_BROKEN_PIPE), r.stderr


CHILD = textwrap.dedent("""
    import hashlib, os, sys, time
    from tfforge import _io
    from tfforge.cli import _signals
    from tfforge.cli.main import report
    out, mode = sys.argv[1], sys.argv[2]
    with _signals.handled():
        try:
            with _io.atomic_write(out) as f:
                f.write(b"partial")
                f.flush()
                print("ready", flush=True)
                if mode == "python":
                    time.sleep(60)
                else:  # one long call into C that never checks for signals
                    hashlib.pbkdf2_hmac("sha256", b"p", b"s", 50_000_000)
                print("finished", flush=True)
        except BaseException as exc:
            sys.exit(report(exc, False))
""")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("mode", ["python", "native"])
def test_signals_remove_temporary_outputs(tmp_path, sig, mode):
    out = tmp_path / "out.bin"
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(out), mode], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=ENV)
    assert p.stdout.readline().strip() == "ready"
    assert len(os.listdir(tmp_path)) == 1  # the temporary file
    p.send_signal(sig)
    stdout, stderr = p.communicate(timeout=60)
    assert p.returncode == 128 + sig
    assert "finished" not in stdout
    assert stderr.strip() == ("tfforge: terminated" if sig == signal.SIGTERM else "tfforge: interrupted")
    assert os.listdir(tmp_path) == []


IMPORTS = textwrap.dedent("""
    import json, sys
    from tfforge.cli.main import main
    code = main(sys.argv[1:])
    print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules, "numpy": "numpy" in sys.modules}))
""")


def _imports(*args):
    r = subprocess.run([sys.executable, "-c", IMPORTS, *args], capture_output=True, text=True, env=ENV, timeout=120)
    return json.loads(r.stdout.strip().splitlines()[-1]), r


def test_help_imports_neither_tensorflow_nor_numpy():
    got, r = _imports("--help")
    assert got == {"code": 0, "tensorflow": False, "numpy": False}, r.stderr


def test_graph_transform_imports_no_tensorflow(tmp_path):
    src = tmp_path / "g.pb"
    src.write_bytes(GRAPH)
    got, r = _imports("graph", "transform", str(src), str(tmp_path / "o.pb"), "--transforms", "remove_device")
    assert got["code"] == 0 and got["tensorflow"] is False, r.stderr
    assert (tmp_path / "o.pb").exists()


def test_records_count_imports_no_tensorflow(tmp_path):
    from tfforge import records
    import numpy as np
    prefix = str(tmp_path / "d")
    records.write({"x": np.arange(10, dtype=np.int64)}, prefix)
    got, r = _imports("records", "count", prefix)
    assert got["code"] == 0 and got["tensorflow"] is False, r.stderr


def test_tensorflow_startup_logging_is_silenced_unless_the_user_set_it():
    code = "from tfforge.cli.main import main; import sys; sys.exit(main(['doctor', '--json']))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=300)
    assert r.returncode == 0
    assert r.stderr == "", r.stderr
    code = ("import os, sys; from tfforge._tf import quiet_startup; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '0'; "
            "print(quiet_startup(), os.environ['TF_CPP_MIN_LOG_LEVEL'])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert r.stdout.split() == ["False", "0"]


def test_native_stderr_is_hidden_only_in_quiet_mode():
    code = textwrap.dedent("""
        import os, sys
        from tfforge import _tf
        with _tf.native_stderr_quiet():
            os.write(2, b"library-user-sees-this\\n")
        _tf.quiet_startup()
        with _tf.native_stderr_quiet():
            os.write(2, b"hidden-native-noise\\n")
        print("python-stderr-works", file=sys.stderr)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert r.stderr.split() == ["library-user-sees-this", "python-stderr-works"]


OWN_PROCESS = textwrap.dedent("""
    import gc, json, sys
    from tfforge import _tf
    if sys.argv[1] == "command":
        _tf.own_process()
    _tf.tf()
    from keras.src.trainers.data_adapters import array_slicing  # holds pandas, or None without it
    seen_by_keras = array_slicing.pandas is not None
    import pandas  # the user's and tfforge's own imports still work afterwards
    print(json.dumps({"keras_pandas": seen_by_keras, "pandas_ok": hasattr(pandas, "DataFrame"),
                      "frozen": gc.get_freeze_count()}))
""")


@pytest.mark.parametrize("mode", ["command", "library"])
def test_the_command_imports_tensorflow_without_kerass_extras_and_freezes_its_heap(mode):
    """In the `tfforge` command's own process Keras does not load pandas (or matplotlib) and TensorFlow's
    import heap is moved out of the collector's reach; a library user's process is left as it is."""
    pytest.importorskip("pandas")
    r = subprocess.run([sys.executable, "-c", OWN_PROCESS, mode], capture_output=True, text=True, env=ENV,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got["pandas_ok"]
    if mode == "command":
        assert not got["keras_pandas"] and got["frozen"] > 100_000
    else:
        assert got["keras_pandas"] and got["frozen"] == 0


def test_main_with_argv_leaves_the_callers_process_as_it_is():
    """Tests and embedders call main(argv): only the console script (argv None) owns the process."""
    code = ("import sys; from tfforge import _tf; from tfforge.cli.main import main; "
            "main(['--version']); print(_tf._own_process)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=60)
    assert r.stdout.split()[-1] == "False", r.stderr
