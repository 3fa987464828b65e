"""Entry point of the `tfforge` command: `tfforge <group> <verb>`.

Every module in tfforge.cli with a `register(subparsers)` function contributes commands; each command
sets `func(args) -> int`. Errors from tfforge become one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import tfforge
from tfforge.errors import TfforgeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tfforge",
        description="Fast native tools for TensorFlow users: custom ops, TFRecord, model formats, benchmarks.")
    parser.add_argument("--version", action="version", version=f"tfforge {tfforge.__version__}")
    parser.add_argument("--cmake-dir", action="store_true",
                        help="print the directory of tfforge's CMake package (find_package(tfforge)) and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    import tfforge.cli as cli_pkg
    for mod in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if mod.name in ("main",) or mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"tfforge.cli.{mod.name}")
        if hasattr(module, "register"):
            module.register(subparsers)
    return parser


def _print_cmake_dir() -> int:
    from tfforge._build import REBUILD_HINT, cmake_dir

    path = cmake_dir()
    if path is None:
        print(f"tfforge: error: this tfforge install has no CMake package; reinstall it: {REBUILD_HINT}", file=sys.stderr)
        return 1
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmake_dir:
        return _print_cmake_dir()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except TfforgeError as exc:
        print(f"tfforge: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tfforge: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
