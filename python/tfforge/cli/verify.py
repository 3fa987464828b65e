"""`tfforge verify A B`: run two models on the same inputs, report max abs / rel error per output."""

from __future__ import annotations

import json


def positive_int(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def register(subparsers):
    p = subparsers.add_parser("verify", help="compare two models (any formats) output by output",
                              description="Runs A (the reference) and B on the same random inputs (or --data) and "
                                          "reports max absolute and relative error per output.")
    p.add_argument("a")
    p.add_argument("b")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--samples", type=positive_int, default=4, help="random samples (default 4)")
    group.add_argument("--data", help=".npz with arrays named like the inputs (or arr_0, arr_1, ...)")
    p.add_argument("--signature", default="serving_default", help="SavedModel signature")
    p.add_argument("--tags", default=None, help="SavedModel tags, comma-separated")
    p.add_argument("--tolerance", type=float, default=None, help="exit 1 when any max abs error exceeds this")
    p.add_argument("--unsafe", action="store_true", help="load Keras files with safe_mode off")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from tfforge.convert import verify
    report = verify(args.a, args.b, samples=args.samples, data=args.data, signature=args.signature,
                    tags=args.tags.split(",") if args.tags else None, safe_mode=not args.unsafe)
    if args.json:
        print(json.dumps({"a": report.a, "b": report.b, "samples": report.samples,
                          "outputs": [o.__dict__ for o in report.outputs]}, indent=2, default=str))
    else:
        print(f"{report.a} vs {report.b}: {report.samples} samples"
              + (f" (TFLite via {report.interpreter})" if report.interpreter else ""))
        print(report.table())
    if args.tolerance is not None:
        import sys
        over = [o for o in report.outputs if not o.max_abs <= args.tolerance]  # NaN fails too
        for o in over:
            print(f"tfforge: error: output {o.a!r}: max abs error {o.max_abs:.6g} exceeds --tolerance "
                  f"{args.tolerance:g} by {o.max_abs - args.tolerance:.6g}", file=sys.stderr)
        if over:
            return 1
    return 0
