"""`tfforge doctor`: the build and run-time report."""

import json


def register(subparsers):
    p = subparsers.add_parser("doctor", help="report tfforge's build, TensorFlow, ops, CUDA and CRC32C path")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from tfforge.doctor import format_report, report
    rep = report()
    print(json.dumps(rep, indent=2) if args.json else format_report(rep))
    return 0
