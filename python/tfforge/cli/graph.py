"""`tfforge graph <verb>`: transform (transform_graph's passes), to-text / from-text, tensorboard."""

from __future__ import annotations

import json
import os
import time

from tfforge._console import human_bytes


def register(subparsers):
    p = subparsers.add_parser("graph", help="rewrite GraphDefs: transform passes, pbtxt, TensorBoard")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    t = verbs.add_parser("transform", help="apply transform_graph passes (native; others through TensorFlow)",
                         description="Applies passes in order, with transform_graph's names and argument syntax, e.g. "
                                     "--transforms 'strip_unused_nodes remove_device remove_nodes(op=Identity) "
                                     "sort_by_execution_order'.")
    t.add_argument("input", help=".pb, .pbtxt, .meta or SavedModel directory")
    t.add_argument("output", help="output GraphDef (.pbtxt for text)")
    t.add_argument("--inputs", default="", help="comma-separated input node names")
    t.add_argument("--outputs", default="", help="comma-separated output node names")
    t.add_argument("--transforms", required=True, help="pass list, e.g. 'strip_unused_nodes remove_device'")
    t.add_argument("--tags", default=None, help="SavedModel tag set (comma-separated); default 'serve'")
    t.add_argument("--json", action="store_true", help="print a JSON report")
    t.set_defaults(func=_transform)

    for verb, helptext, fn in (("to-text", "binary GraphDef/MetaGraphDef/SavedModel -> text format", _to_text),
                               ("from-text", "text format -> binary", _from_text)):
        v = verbs.add_parser(verb, help=helptext)
        v.add_argument("input")
        v.add_argument("output")
        v.add_argument("--type", choices=["auto", "GraphDef", "MetaGraphDef", "SavedModel"], default="auto",
                       help="message type (auto: from the file's content)")
        v.set_defaults(func=fn)

    tb = verbs.add_parser("tensorboard", help="write an events file with the graph for TensorBoard's graph dashboard")
    tb.add_argument("input", help=".pb, .pbtxt, .meta or SavedModel directory")
    tb.add_argument("logdir")
    tb.set_defaults(func=_tensorboard)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _split(s: str) -> list[str]:
    return [x.strip() for x in s.split(",") if x.strip()]


def _transform(args) -> int:
    import tfforge.graph as tg
    start = time.perf_counter()
    g = tg.load(args.input, tags=_split(args.tags) if args.tags else None)
    loaded = time.perf_counter()
    out = g.apply(args.transforms, inputs=_split(args.inputs), outputs=_split(args.outputs))
    applied = time.perf_counter()
    out.save(args.output)
    done = time.perf_counter()
    report = {"input": args.input, "output": args.output, "nodes_before": len(g), "nodes_after": len(out),
              "functions_before": len(g.library_functions), "functions_after": len(out.library_functions),
              "seconds": {"load": loaded - start, "transform": applied - loaded, "write": done - applied}}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{args.input}: {len(g)} nodes -> {args.output}: {len(out)} nodes, "
              f"{human_bytes(os.path.getsize(args.output))} in {done - start:.2f} s")
    return 0


def _message_type(path: str, explicit: str, want_text: bool) -> str:
    """The message a file holds: --type, else what tfforge.formats reads from the content."""
    if explicit != "auto":
        return "tensorflow." + explicit
    from tfforge import formats
    from tfforge.errors import FormatError
    kind = formats.text_kind(path) if want_text else formats.detect(path)
    if kind is None or kind not in formats.MESSAGE_TYPES or formats.is_text(path) != want_text:
        what = "text format" if want_text else "a binary GraphDef, MetaGraphDef or SavedModel"
        raise FormatError(f"not {what} tfforge recognises; name the message with --type GraphDef|MetaGraphDef|"
                          "SavedModel", path=path)
    return formats.MESSAGE_TYPES[kind]


def _to_text(args) -> int:
    from tfforge import formats
    from tfforge.graph import text
    src = formats.graph_file(args.input) if args.type == "auto" else args.input
    if os.path.isdir(src):
        src = os.path.join(src, "saved_model.pb")
    msg = _message_type(src, args.type, want_text=False)
    text.binary_to_text(src, args.output, msg)
    print(f"{src} -> {args.output} ({msg.split('.')[-1]}, {human_bytes(os.path.getsize(args.output))})")
    return 0


def _from_text(args) -> int:
    from tfforge.graph import text
    msg = _message_type(args.input, args.type, want_text=True)
    text.text_to_binary(args.input, args.output, msg)
    print(f"{args.input} -> {args.output} ({msg.split('.')[-1]}, {human_bytes(os.path.getsize(args.output))})")
    return 0


def _tensorboard(args) -> int:
    import tfforge.graph as tg
    from tfforge.graph.tensorboard import write_graph_event
    g = tg.load(args.input)
    path = write_graph_event(g, args.logdir)
    print(f"wrote {path} ({len(g)} nodes); view with: tensorboard --logdir {args.logdir}")
    return 0
