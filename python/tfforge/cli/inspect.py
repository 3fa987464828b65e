"""`tfforge inspect PATH`: inputs, outputs, signatures, ops, parameters, variables, custom ops,
devices, functions and suggested next commands for a model file (see tfforge.graph.inspect)."""

from __future__ import annotations

import json


def register(subparsers):
    p = subparsers.add_parser("inspect", help="summarize a model file (.pb, .pbtxt, .meta, SavedModel dir, ...)")
    p.add_argument("path")
    p.add_argument("--tags", default=None, help="SavedModel tag set to read (comma-separated); default 'serve'")
    p.add_argument("--tensor", metavar="NAME", help="checkpoints: also print this tensor's value")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from tfforge.graph import inspect as gi
    options = {}
    if args.tags:
        options["tags"] = [t for t in args.tags.split(",") if t]
    if args.tensor:
        options["tensor"] = args.tensor
    report = gi.inspect(args.path, **options)
    print(json.dumps(report, indent=2, default=str) if args.json else gi.render(report))
    return 0
