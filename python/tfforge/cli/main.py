"""Entry point of the `tfforge` command: `tfforge <group> <verb>`.

Every module in tfforge.cli with a `register(subparsers)` function contributes commands; each command
sets `func(args) -> int`. Registration only builds argparse parsers: command modules import heavy
modules (numpy, TensorFlow) inside their functions, never at module level.

Every failure ends as one line on stderr and an exit code (README "Exit codes"); `--debug` (anywhere
on the command line, or TFFORGE_DEBUG=1) prints the traceback as well and leaves TensorFlow's
logging as configured.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

import tfforge
from tfforge.cli import _signals

EXIT_OK = 0
EXIT_ERROR = 1          # bad input or data, a file that cannot be read or written, a failed conversion
EXIT_USAGE = 2          # bad command line
EXIT_ENVIRONMENT = 3    # a missing dependency, a mismatched TensorFlow, no op library, out of memory
EXIT_INTERNAL = 70      # an unexpected exception inside tfforge: a bug (--debug shows where)
EXIT_BROKEN_PIPE = 141  # stdout was closed by the reader (`tfforge ... | head`); nothing printed
EXIT_SIGINT = 130
EXIT_SIGTERM = 143
EXIT_CODES = (EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_BROKEN_PIPE,
              EXIT_SIGINT, EXIT_SIGTERM)

# Exceptions raised inside these packages are failures of the user's input (a model Keras cannot
# load, an array numpy cannot parse), not bugs of tfforge: one line, exit 1.
_THIRD_PARTY = ("tensorflow", "keras", "tf_keras", "h5py", "numpy", "pyarrow", "pandas", "PIL", "google",
                "absl", "ml_dtypes", "apache_beam", "tflite_runtime", "ai_edge_litert", "json", "pickle",
                "zipfile", "gzip", "zlib", "csv", "io", "codecs", "encodings")


def _int64(text: str) -> int:
    """argparse type for every integer option: a 64-bit signed integer (usage error otherwise)."""
    value = int(text)
    if not -(1 << 63) <= value < (1 << 63):
        raise ValueError(text)
    return value


_int64.__name__ = "int"  # argparse names the type in its message: "invalid int value: '...'"


def _bound_integer_options(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if action.type is int:
            action.type = _int64
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _bound_integer_options(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfforge",
        description="Fast native tools for TensorFlow users: custom ops, TFRecord, model formats, benchmarks.",
        epilog="Exit codes: 0 ok, 1 error (input, data, files), 2 usage, 3 environment (missing "
               "dependency, out of memory), 70 internal error, 130/143 interrupted (SIGINT/SIGTERM), "
               "141 output pipe closed.")
    parser.add_argument("--version", action="version", version=f"tfforge {tfforge.__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="print tracebacks and TensorFlow's own logging (also TFFORGE_DEBUG=1)")
    parser.add_argument("--cmake-dir", action="store_true",
                        help="print the directory of tfforge's CMake package (find_package(tfforge)) and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import tfforge.cli as cli_pkg
    # the package's own .py files (pkgutil.iter_modules would import inspect and ast: ~0.1 s of start-up)
    names = {n[:-3] for d in cli_pkg.__path__ for n in os.listdir(d) if n.endswith(".py")}
    for name in sorted(names):
        if name in ("main",) or name.startswith("_"):
            continue
        module = importlib.import_module(f"tfforge.cli.{name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    _bound_integer_options(parser)
    return parser


def _print_cmake_dir() -> int:
    from tfforge._build import REBUILD_HINT, cmake_dir

    path = cmake_dir()
    if path is None:
        print(f"tfforge: error: this tfforge install has no CMake package; reinstall it: {REBUILD_HINT}",
              file=sys.stderr)
        return EXIT_ENVIRONMENT
    print(path)
    return 0


def _split_debug(argv: list[str]) -> tuple[list[str], bool]:
    """Removes --debug from anywhere before a `--`, so it works after the verb too."""
    debug = os.environ.get("TFFORGE_DEBUG", "") not in ("", "0")
    out = []
    for i, a in enumerate(argv):
        if a == "--":
            out.extend(argv[i:])
            break
        if a == "--debug":
            debug = True
        else:
            out.append(a)
    return out, debug


def main(argv: list[str] | None = None) -> int:
    """argv None: the `tfforge` command's own process (tests pass argv and keep their process as it is)."""
    from tfforge import _tf
    if argv is None:
        _tf.own_process()
    argv, debug = _split_debug(list(sys.argv[1:] if argv is None else argv))
    if not debug:
        _tf.quiet_startup()
    with _signals.handled():
        try:
            parser = build_parser()
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: --help, --version (0) or a usage error (2)
            return _flush_stdout(exc.code if isinstance(exc.code, int) else EXIT_USAGE)
        except BaseException as exc:  # noqa: BLE001  (the frame reports everything as one line)
            return report(exc, debug)
        if args.cmake_dir:
            return _print_cmake_dir()
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        args.debug = debug
        try:
            code = args.func(args)
            return _flush_stdout(int(code or 0))
        except SystemExit as exc:
            return _flush_stdout(exc.code if isinstance(exc.code, int) else EXIT_ERROR)
        except BaseException as exc:  # noqa: BLE001
            return report(exc, debug)


def _flush_stdout(code: int) -> int:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except (OSError, ValueError):
        pass
    return code


def _silence_stdout() -> None:
    """After EPIPE on stdout: point it at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _raised_in_third_party(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame
        tb = tb.tb_next
    if last is None:
        return False
    module = last.f_globals.get("__name__", "") or ""
    return module.split(".")[0] in _THIRD_PARTY


def classify(exc: BaseException) -> tuple[int, str | None]:
    """(exit code, the one line to print or None for a quiet exit) for an exception."""
    from tfforge.errors import (OpsNotBuiltError, TensorFlowNotInstalled, TensorFlowVersionMismatch,
                                TfforgeError)
    if isinstance(exc, _signals.Terminated):
        return EXIT_SIGTERM, "terminated"
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_SIGINT, "interrupted"
    if isinstance(exc, BrokenPipeError) or (isinstance(exc, OSError) and exc.errno == errno.EPIPE):
        _silence_stdout()
        return EXIT_BROKEN_PIPE, None
    if isinstance(exc, (TensorFlowNotInstalled, OpsNotBuiltError, TensorFlowVersionMismatch)):
        return EXIT_ENVIRONMENT, str(exc)
    if isinstance(exc, TfforgeError):
        return EXIT_ERROR, str(exc)
    if isinstance(exc, MemoryError):
        return EXIT_ENVIRONMENT, "out of memory" + (f": {exc}" if str(exc) else "")
    if isinstance(exc, ModuleNotFoundError):
        return EXIT_ENVIRONMENT, _missing_module(exc)
    if isinstance(exc, OSError):
        return EXIT_ERROR, _os_error_line(exc)
    if isinstance(exc, UnicodeError):
        return EXIT_ERROR, f"text that is not valid {getattr(exc, 'encoding', 'UTF-8') or 'UTF-8'}: {exc}"
    if _raised_in_third_party(exc):
        return EXIT_ERROR, f"{type(exc).__name__}: {_first_line(exc)}"
    return EXIT_INTERNAL, (f"internal error ({type(exc).__name__}: {_first_line(exc)}); "
                           "rerun with --debug for the traceback and please report it")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


# Importable module -> what a source install runs to get it.
_INSTALL = {
    "pyarrow": "pip install pyarrow (or, from tfforge's source directory: pip install --no-build-isolation '.[arrow]')",
    "pandas": "pip install pandas",
    "PIL": "pip install pillow",
    "apache_beam": "pip install apache-beam (or, from tfforge's source directory: pip install --no-build-isolation '.[beam]')",
    "matplotlib": "pip install matplotlib",
    "h5py": "pip install h5py",
    "tensorflow": "pip install 'tensorflow==2.21.*', then rebuild tfforge from its source directory",
    "keras": "pip install keras",
}


def _missing_module(exc: ModuleNotFoundError) -> str:
    name = (exc.name or "").split(".")[0]
    hint = _INSTALL.get(name, f"pip install {name}" if name else "")
    return f"needs the Python module '{exc.name}', which is not installed" + (f"; install it with: {hint}" if hint else "")


def _os_error_line(exc: OSError) -> str:
    reason = exc.strerror or _first_line(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the device"
    if exc.filename is not None and exc.filename2 is not None:
        return f"{os.fsdecode(exc.filename)} -> {os.fsdecode(exc.filename2)}: {reason}"
    if exc.filename is not None:
        return f"{os.fsdecode(exc.filename)}: {reason}"
    return reason


def one_line(text: str) -> str:
    """`text` with line breaks and other control characters escaped, so an error stays one line."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


def report(exc: BaseException, debug: bool) -> int:
    code, line = classify(exc)
    line = None if line is None else one_line(line)
    if debug and code != EXIT_BROKEN_PIPE:
        import traceback
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    if line is not None:
        try:
            sys.stderr.write(f"tfforge: error: {line}\n" if code not in (EXIT_SIGINT, EXIT_SIGTERM)
                             else f"tfforge: {line}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
    return code


if __name__ == "__main__":
    sys.exit(main())
