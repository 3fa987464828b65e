"""`tfforge bench ops`: tfforge's fused ops vs TensorFlow's built-in compositions (tf.function and XLA)."""

from __future__ import annotations

import json
import sys


def register(subparsers):
    p = subparsers.add_parser("bench", help="benchmarks against TensorFlow's built-in equivalents")
    verbs = p.add_subparsers(dest="bench_command", metavar="VERB")
    ops = verbs.add_parser("ops", help="fused ops vs built-in compositions, forward and forward+backward")
    ops.add_argument("--op", action="append", choices=["layer_norm", "rms_norm", "bias_gelu"],
                     help="op to run (repeatable; default: all)")
    ops.add_argument("--shape", action="append", help="input shape like 8192x1024 (repeatable; default 8192x1024)")
    ops.add_argument("--dtype", action="append", choices=["float32", "float16", "bfloat16"],
                     help="dtype (repeatable; default float32)")
    ops.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    ops.add_argument("--direction", action="append", choices=["fwd", "fwd+bwd"],
                     help="fwd, fwd+bwd (repeatable; default both)")
    ops.add_argument("--reps", type=int, default=10, help="timed calls per variant (median reported)")
    ops.add_argument("--out", metavar="DIR", help="also write ops.json and ops.png into DIR")
    ops.add_argument("--json", action="store_true", help="print the report as JSON")
    ops.set_defaults(func=run_ops)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_ops(args) -> int:
    from tfforge.bench import ops, report

    try:
        shapes = [ops.parse_shape(s) for s in (args.shape or ["8192x1024"])]
    except ValueError as exc:
        print(f"tfforge: error: {exc}", file=sys.stderr)
        return 2
    progress = None if args.json else (lambda msg: print(f"  {msg}", file=sys.stderr))
    try:
        rep = ops.run(ops=args.op or ops.OPS, shapes=shapes, dtypes=args.dtype or ["float32"], device=args.device,
                      directions=args.direction or ops.DIRECTIONS, reps=max(1, args.reps), progress=progress)
    except RuntimeError as exc:
        print(f"tfforge: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(rep, indent=2) if args.json else report.table(rep))
    if args.out:
        from pathlib import Path
        written = [report.write_json(rep, Path(args.out) / "ops.json"), report.write_png(rep, Path(args.out) / "ops.png")]
        if not args.json:
            for path in written:
                print(f"wrote {path}" if path else "ops.png skipped: install matplotlib (pip install matplotlib)")
    return 0
