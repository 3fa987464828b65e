"""`tfforge bench op`: any op against its reference composition, plain and under XLA; `tfforge bench ops`:
the same harness over tfforge's fused ops."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers):
    p = subparsers.add_parser("bench", help="benchmarks against TensorFlow's built-in equivalents")
    verbs = p.add_subparsers(dest="bench_command", metavar="VERB")

    op = verbs.add_parser("op", help="time an op against its reference composition, plain and under XLA",
                          description="Times MODULE:FN (in tf.function) against --reference (plain, and under XLA "
                                      "with --xla), forward and with --backward forward+backward; reports median "
                                      "and spread, GB/s and %% of the measured memory bandwidth, speed-up.")
    op.add_argument("fn", metavar="MODULE:FN", help="the op, e.g. my_op:my_op (called as FN(x, *vectors))")
    op.add_argument("--reference", metavar="MODULE:FN", help="what it replaces, e.g. my_op:reference")
    op.add_argument("--inputs", metavar="MODULE:FN",
                    help="FN(shape, dtype) -> input tensors (default: x of the shape, then one vector as long as its "
                         "last axis per further required argument)")
    op.add_argument("--shapes", default="8192x1024", help="comma-separated shapes (default 8192x1024)")
    op.add_argument("--dtypes", default="float32", help="comma-separated dtypes (default float32)")
    op.add_argument("--xla", action="store_true", help="also time the reference under jit_compile=True")
    op.add_argument("--backward", action="store_true", help="also time forward+backward")
    _common(op)
    op.set_defaults(func=run_op)

    ops = verbs.add_parser("ops", help="tfforge's fused ops vs built-in compositions, forward and forward+backward")
    ops.add_argument("--op", action="append", choices=["layer_norm", "rms_norm", "bias_gelu"],
                     help="op to run (repeatable; default: all)")
    ops.add_argument("--shape", action="append", help="input shape like 8192x1024 (repeatable; default 8192x1024)")
    ops.add_argument("--dtype", action="append", choices=["float32", "float16", "bfloat16"],
                     help="dtype (repeatable; default float32)")
    ops.add_argument("--direction", action="append", choices=["fwd", "fwd+bwd"],
                     help="fwd, fwd+bwd (repeatable; default both)")
    _common(ops)
    ops.set_defaults(func=run_ops)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _common(p):
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--reps", type=int, default=10, help="timed calls per variant (median reported)")
    p.add_argument("--out", metavar="DIR", help="also write the report as JSON and a PNG chart into DIR")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _shapes(texts) -> list | None:
    from tfforge.bench.op import parse_shape
    from tfforge.errors import TfforgeError

    try:
        return [parse_shape(s) for s in texts]
    except TfforgeError as exc:
        print(f"tfforge: error: {exc}", file=sys.stderr)
        return None


def _emit(args, rep: dict, stem: str, title: str) -> int:
    from tfforge.bench import report

    print(json.dumps(rep, indent=2) if args.json else report.table(rep))
    if args.out:
        written = [report.write_json(rep, Path(args.out) / f"{stem}.json"),
                   report.write_png(rep, Path(args.out) / f"{stem}.png", title=title)]
        if not args.json:
            for path in written:
                print(f"wrote {path}" if path
                      else f"{stem}.png skipped: install matplotlib (pip install matplotlib)")
    return 0


def _progress(args):
    return None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))


def run_op(args) -> int:
    from tfforge.bench import op as harness

    shapes = _shapes([s for s in args.shapes.split(",") if s])
    if shapes is None:
        return 2
    fn = harness.resolve(args.fn)
    reference = harness.resolve(args.reference) if args.reference else None
    make_inputs = harness.resolve(args.inputs) if args.inputs else None
    name = args.fn.partition(":")[2]
    rep = harness.run(name, fn, reference, device=args.device, make_inputs=make_inputs, shapes=shapes,
                      dtypes=[d for d in args.dtypes.split(",") if d], xla=args.xla, backward=args.backward,
                      reps=max(1, args.reps), progress=_progress(args))
    return _emit(args, rep, name, f"{name} vs {args.reference or 'nothing'}")


def run_ops(args) -> int:
    from tfforge.bench import ops

    shapes = _shapes(args.shape or ["8192x1024"])
    if shapes is None:
        return 2
    rep = ops.run(ops=args.op or ops.OPS, shapes=shapes, dtypes=args.dtype or ["float32"], device=args.device,
                  directions=args.direction or ops.DIRECTIONS, reps=max(1, args.reps), progress=_progress(args))
    return _emit(args, rep, "ops", "tfforge fused ops vs TensorFlow built-ins")
