"""`tfforge ckpt <verb>`: TensorFlow checkpoints without TensorFlow - ls, show, diff, export, import, edit."""

from __future__ import annotations

import json
import sys


def register(subparsers):
    p = subparsers.add_parser("ckpt", help="list, compare, edit and convert TensorFlow checkpoints (no TensorFlow needed)",
                              description="CKPT is a checkpoint prefix (model.ckpt-100), its .index file, or a "
                                          "directory whose `checkpoint` file names the latest checkpoint.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")

    v = verbs.add_parser("ls", help="list tensors: name, dtype, shape, bytes (like inspect_checkpoint)")
    v.add_argument("ckpt")
    v.add_argument("--json", action="store_true", help="print JSON")
    v.set_defaults(func=_ls)

    v = verbs.add_parser("show", help="print one tensor's dtype, shape and values")
    v.add_argument("ckpt")
    v.add_argument("name")
    v.add_argument("--json", action="store_true", help="print JSON with the values as a nested list")
    v.add_argument("--full", action="store_true", help="print every value instead of a summary")
    v.set_defaults(func=_show)

    v = verbs.add_parser("diff", help="compare two checkpoints: missing, extra, dtype/shape changes, max abs difference")
    v.add_argument("a")
    v.add_argument("b")
    v.add_argument("--tolerance", type=float, default=0.0, help="values within this max abs difference count as equal")
    v.add_argument("--exit-code", action="store_true", help="exit 1 when the checkpoints differ")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_diff)

    v = verbs.add_parser("export", help="write the tensors to .npz or .safetensors")
    v.add_argument("ckpt")
    v.add_argument("output")
    v.add_argument("--to", choices=["npz", "safetensors"], help="format (default: from the output's extension)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_export)

    v = verbs.add_parser("import", help="make a checkpoint from a .npz or .safetensors file")
    v.add_argument("input")
    v.add_argument("prefix", help="output checkpoint prefix (PREFIX.index, PREFIX.data-00000-of-00001, `checkpoint`)")
    v.add_argument("--from", dest="fmt", choices=["npz", "safetensors"], help="format (default: from the extension)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_import)

    v = verbs.add_parser(
        "edit", help="write a new checkpoint with tensors kept, dropped, renamed or cast",
        description="Regexes match anywhere in the input's tensor names (re.search); --only and --drop select, "
                    "then renames apply, then --cast converts matching floating-point tensors. The TF2 object graph "
                    "follows renames and drops, so tf.train.Checkpoint.restore still works on the result.")
    v.add_argument("src")
    v.add_argument("dst", help="output checkpoint prefix")
    v.add_argument("--only", action="append", default=[], metavar="REGEX", help="keep only tensors matching (repeatable)")
    v.add_argument("--drop", action="append", default=[], metavar="REGEX", help="leave out tensors matching (repeatable)")
    v.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="rename one tensor (repeatable)")
    v.add_argument("--rename-regex", action="append", default=[], metavar="PATTERN=REPLACEMENT",
                   help="rename by re.sub on matching names, e.g. '^dense/=layer0/' (repeatable)")
    v.add_argument("--cast", action="append", default=[], metavar="REGEX=DTYPE",
                   help="cast matching float tensors to float16, bfloat16 or float32 (repeatable)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_edit)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _pair(text: str, flag: str) -> tuple[str, str]:
    from tfforge.errors import CheckpointError
    if "=" not in text:
        raise CheckpointError(f"{flag} expects A=B, got {text!r}")
    a, b = text.rsplit("=", 1) if flag == "--cast" else text.split("=", 1)
    return a, b


def _ls(args) -> int:
    from tfforge._console import format_table, human_bytes
    import tfforge.checkpoint as ck
    c = ck.open(args.ckpt)
    infos = [c.info(n) for n in c.names()]
    if args.json:
        print(json.dumps({"prefix": c.prefix, "num_shards": c.num_shards, "tensors": [
            {"name": i.name, "dtype": i.dtype, "shape": list(i.shape), "bytes": i.nbytes, "partitioned": i.partitioned}
            for i in infos]}, indent=2))
        return 0
    rows = [(i.name, i.dtype, "[" + ",".join(map(str, i.shape)) + "]" + (" (partitioned)" if i.partitioned else ""),
             i.nbytes) for i in infos]
    print(format_table(rows, ["name", "dtype", "shape", "bytes"]))
    total = sum(i.nbytes for i in infos)
    print(f"{len(infos)} tensors, {human_bytes(total)} in {c.num_shards} data shard(s): {c.prefix}")
    return 0


def _show(args) -> int:
    import numpy as np
    import tfforge.checkpoint as ck
    c = ck.open(args.ckpt)
    info = c.info(args.name)
    value = c.read(args.name)
    if args.json:
        if value.dtype == object:
            values = np.vectorize(lambda b: b.decode("utf-8", "backslashreplace"), otypes=[object])(value).tolist() \
                if value.size else value.tolist()
        else:
            narrow = value.dtype.kind == "V" or (value.dtype.kind == "f" and value.dtype.itemsize < 4)  # bf16, f16, f8, int4
            values = value.astype(np.float64).tolist() if narrow else value.tolist()
            if value.dtype.kind == "c":
                values = [[z.real, z.imag] for z in value.reshape(-1).tolist()]
        print(json.dumps({"name": info.name, "dtype": info.dtype, "shape": list(info.shape), "bytes": info.nbytes,
                          "values": values}, default=float))
        return 0
    print(f"{info.name}: {info.dtype} {list(info.shape)} ({info.nbytes} bytes)")
    with np.printoptions(threshold=sys.maxsize if args.full else 1000, linewidth=120):
        print(value)
    if value.dtype != object and value.size and info.dtype not in ("bool", "complex64", "complex128"):
        v = value.astype(np.float64)
        print(f"min {np.nanmin(v):.6g}  max {np.nanmax(v):.6g}  mean {np.nanmean(v):.6g}  std {np.nanstd(v):.6g}")
    return 0


def _diff(args) -> int:
    from tfforge._console import format_table
    from tfforge.checkpoint.diff import diff
    r = diff(args.a, args.b, tolerance=args.tolerance)
    if args.json:
        print(json.dumps({"identical": r.identical, "only_in_a": r.only_a, "only_in_b": r.only_b, "equal": r.equal,
                          "changed": [{"name": c.name, "a": c.a, "b": c.b, "max_abs_diff": c.max_abs_diff}
                                      for c in r.changed]}, indent=2))
    else:
        for n in r.only_a:
            print(f"- {n}  (only in {args.a})")
        for n in r.only_b:
            print(f"+ {n}  (only in {args.b})")
        if r.changed:
            print(format_table([(c.name, c.a, c.b, "dtype/shape" if c.max_abs_diff is None else f"{c.max_abs_diff:.6g}")
                                for c in r.changed], ["name", "a", "b", "max abs diff"]))
        print(f"{r.equal} equal, {len(r.changed)} changed, {len(r.only_a)} only in A, {len(r.only_b)} only in B")
    return 1 if args.exit_code and not r.identical else 0


def _report_lines(r, verb, target):
    if r.skipped:
        print(f"tfforge: skipped {len(r.skipped)} string/variant tensor(s) the format cannot hold: "
              f"{', '.join(r.skipped)}", file=sys.stderr)
    if r.widened:
        print(f"tfforge: widened {len(r.widened)} tensor(s) the format has no dtype for (exact): "
              f"{', '.join(r.widened)}", file=sys.stderr)
    print(f"{verb} {r.tensors} tensors -> {target}")


def _export(args) -> int:
    from tfforge.checkpoint.formats import export
    r = export(args.ckpt, args.output, args.to)
    if args.json:
        print(json.dumps({"output": args.output, "tensors": r.tensors, "skipped": r.skipped, "widened": r.widened}))
    else:
        _report_lines(r, "exported", args.output)
    return 0


def _import(args) -> int:
    from tfforge.checkpoint.formats import import_
    r = import_(args.input, args.prefix, args.fmt)
    if args.json:
        print(json.dumps({"prefix": args.prefix, "tensors": r.tensors}))
    else:
        _report_lines(r, "imported", args.prefix)
    return 0


def _edit(args) -> int:
    from tfforge.checkpoint.edit import EditPlan, edit
    plan = EditPlan(only=args.only, drop=args.drop,
                    rename=dict(_pair(x, "--rename") for x in args.rename),
                    rename_regex=[_pair(x, "--rename-regex") for x in args.rename_regex],
                    cast=[_pair(x, "--cast") for x in args.cast])
    r = edit(args.src, args.dst, plan)
    if args.json:
        print(json.dumps({"output": args.dst, "kept": r.kept, "dropped": r.dropped, "renamed": r.renamed,
                          "cast": r.cast, "not_cast": r.not_cast, "object_graph_updated": r.object_graph_updated},
                         indent=2))
        return 0
    for old, new in r.renamed.items():
        print(f"renamed {old} -> {new}")
    for name in r.dropped:
        print(f"dropped {name}")
    for name, how in r.cast.items():
        print(f"cast {name}: {how}")
    if r.not_cast:
        print(f"tfforge: not cast (not floating point): {', '.join(r.not_cast)}", file=sys.stderr)
    print(f"wrote {r.kept} tensors to {args.dst}" + (" (object graph updated)" if r.object_graph_updated else ""))
    return 0
