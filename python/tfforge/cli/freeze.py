"""`tfforge freeze SRC OUT.pb`: a TF1 checkpoint, SavedModel or Keras file -> frozen GraphDef."""

from __future__ import annotations

import json


def add_freeze_options(p):
    p.add_argument("--outputs", help="output node names, comma-separated (detected and printed when omitted)")
    p.add_argument("--inputs", help="input node names, comma-separated; non-placeholders are cut into placeholders")
    p.add_argument("--signature", default="serving_default",
                   help="SavedModel signature to freeze; '' freezes the MetaGraph by node names with --outputs, "
                        "as freeze_graph.py --input_saved_model_dir does")
    p.add_argument("--tags", default="serve", help="SavedModel MetaGraph tags, comma-separated")
    p.add_argument("--clear-devices", action="store_true", help="drop device placements")
    p.add_argument("--variables", help="freeze only these variables (comma-separated names or globs)")
    p.add_argument("--exclude-variables", help="keep these variables as variables (names or globs)")
    p.add_argument("--initializer-nodes", help="nodes to keep (e.g. table initializers) that the user runs once")
    p.add_argument("--graph", help="GraphDef (.pb / .pbtxt) of a checkpoint that has no .meta "
                                   "(freeze_graph's --input_graph)")
    p.add_argument("--meta", help="MetaGraphDef to use instead of the one beside the checkpoint")
    p.add_argument("--unsafe", action="store_true", help="load Keras files with safe_mode off (runs Lambda code)")


def freeze_options(args) -> dict:
    return dict(outputs=args.outputs, inputs=args.inputs, signature=args.signature, tags=args.tags,
                clear_devices=args.clear_devices, variables=args.variables, exclude_variables=args.exclude_variables,
                initializer_nodes=args.initializer_nodes, graph=args.graph, meta=args.meta, safe_mode=not args.unsafe)


def register(subparsers):
    p = subparsers.add_parser(
        "freeze", help="freeze a TF1 checkpoint, SavedModel or Keras file into a GraphDef with constants",
        description="SRC: a TF1 checkpoint prefix or a directory with a `checkpoint` file (graph from the .meta "
                    "beside it or --graph), a SavedModel directory, or a Keras .keras / .h5 file. OUT: .pb "
                    "(binary) or .pbtxt (text).")
    p.add_argument("src")
    p.add_argument("out")
    add_freeze_options(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from tfforge._console import human_bytes
    from tfforge.convert import freeze
    result = freeze(args.src, args.out, **freeze_options(args))
    if args.json:
        print(json.dumps(result.__dict__, indent=2))
        return 0
    print(f"froze {result.source_format} {args.src} -> {result.path} ({human_bytes(result.file_bytes)})")
    print(f"  inputs:  {', '.join(result.inputs) or '(none)'}")
    print(f"  outputs: {', '.join(result.outputs)}")
    print(f"  {result.constants} variables -> constants, {human_bytes(result.weight_bytes)} of weights; "
          f"load {result.seconds['load']:.2f} s, write {result.seconds['write']:.2f} s")
    for note in result.notes:
        print(f"  note: {note}")
    return 0
