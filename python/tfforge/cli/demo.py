"""`tfforge demo`: runs each capability once on embedded sample data and prints what it did.

Each capability contributes one step: a function `demo_step(workdir) -> str` in the module listed in
STEPS (title, module). A step that fails is reported in one line (--debug adds the traceback) and
the demo continues; the exit code is non-zero if any step failed.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
import traceback

from tfforge.errors import TfforgeError

STEPS = [
    ("doctor: build and run-time report", "tfforge.demos.doctor"),
    ("CRC32C of a sample record", "tfforge.demos.crc"),
    ("records: convert a sample table to TFRecords and read it back", "tfforge.demos.records"),
    ("fused ops: a Keras model with tfforge layers vs Keras' own", "tfforge.demos.ops"),
    ("graph: inspect and prune an embedded TF1 graph natively", "tfforge.demos.graph"),
    ("freeze, convert to SavedModel and int8 TFLite, parity report", "tfforge.demos.convert"),
]


def register(subparsers):
    p = subparsers.add_parser("demo", help="run every capability once on embedded sample data")
    p.add_argument("--keep", metavar="DIR", help="work in DIR and keep the files the demo writes")
    p.set_defaults(func=run)


def run(args) -> int:
    failures = 0
    ctx = tempfile.TemporaryDirectory(prefix="tfforge-demo-") if not args.keep else None
    workdir = args.keep or ctx.name
    try:
        for i, (title, module_name) in enumerate(STEPS, 1):
            print(f"\n[{i}/{len(STEPS)}] {title}")
            start = time.perf_counter()
            try:
                output = importlib.import_module(module_name).demo_step(workdir)
            except Exception as exc:  # a failing step is reported, the others still run
                failures += 1
                print(f"  FAILED: {type(exc).__name__}: {exc}" if not isinstance(exc, TfforgeError) else f"  FAILED: {exc}")
                if getattr(args, "debug", False):
                    traceback.print_exc(file=sys.stderr)
                continue
            for line in str(output).splitlines():
                print(f"  {line}")
            print(f"  ({time.perf_counter() - start:.2f} s)")
    finally:
        if ctx:
            ctx.cleanup()
    print(f"\ndemo: {len(STEPS) - failures}/{len(STEPS)} steps ok")
    return 1 if failures else 0
