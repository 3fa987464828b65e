"""`tfforge records convert|inspect|verify|head|count`: TFRecord datasets from the command line."""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time

MAX_SHARDS = 99999  # shard names number them with five digits
MAX_WORKERS = 1024


def _count_arg(minimum: int, maximum: int = (1 << 63) - 1):
    """An argparse type: an integer from `minimum` to `maximum` (argparse prints one line, exit 2, otherwise)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value
    return parse


def _name(key: str) -> str:
    """A feature name for the terminal: bytes that are not UTF-8 (kept as lone surrogates) as \\xNN."""
    return key.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def register(subparsers):
    p = subparsers.add_parser("records", help="convert, inspect, verify and print TFRecord datasets")
    sub = p.add_subparsers(dest="verb", metavar="VERB")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    c = sub.add_parser("convert", help="convert .npz / .parquet / .csv / .arrow / .pkl / an image folder to TFRecord shards",
                       description="Writes DST_PREFIX-0000i-of-0000n.tfrecord[.gz|.zz] and DST_PREFIX.spec.json.")
    c.add_argument("src", help="source file, or a folder with one sub-folder of images per class")
    c.add_argument("prefix", metavar="DST_PREFIX", help="output prefix (folders are created)")
    g = c.add_mutually_exclusive_group()
    g.add_argument("--shards", type=_count_arg(1, MAX_SHARDS), help="number of shards (default 1; image folders: ~1000 images each)")
    g.add_argument("--records-per-shard", type=_count_arg(1), help="fill shards with N records each instead")
    c.add_argument("--compression", choices=["none", "gzip", "zlib"], default="none")
    c.add_argument("--workers", type=_count_arg(1, MAX_WORKERS), help="encoding/compression threads (default: all cores)")
    c.add_argument("--spec", metavar="FILE", help="a spec JSON fixing kinds, shapes and dtypes instead of inferring them")
    c.add_argument("--sequence", metavar="COL,...", default="",
                   help="nested list columns (per row: a list of steps) to write as SequenceExample feature lists")
    c.add_argument("--resize", metavar="HxW", help="image folders: resize every image (Pillow)")
    c.add_argument("--image-format", choices=["jpeg", "png"], help="image folders: re-encode images")
    c.add_argument("--quality", type=_count_arg(1, 100), default=95, help="JPEG quality when re-encoding (default 95)")
    c.add_argument("--runner", metavar="NAME",
                   help="run the conversion as an Apache Beam pipeline on this runner (DirectRunner, DataflowRunner, ...)")
    c.add_argument("--pipeline-arg", action="append", default=[], metavar="ARG",
                   help="a Beam pipeline option, e.g. --pipeline-arg=--project=my-project (repeatable)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    c.set_defaults(func=run_convert)

    i = sub.add_parser("inspect", help="spec, files, counts and the first records of a dataset or file")
    i.add_argument("path", help="a TFRecord file, a glob, or a dataset prefix")
    i.add_argument("-n", type=_count_arg(0), default=3, help="records to print (default 3)")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=run_inspect)

    v = sub.add_parser("verify", help="check every record's framing and CRCs; exit 1 on any error")
    v.add_argument("paths", nargs="+", help="files, globs or dataset prefixes")
    v.add_argument("--examples", action="store_true", help="also check that every record parses as an Example")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=run_verify)

    h = sub.add_parser("head", help="print the first records of a file")
    h.add_argument("path")
    h.add_argument("-n", type=_count_arg(0), default=5, help="records to print (default 5)")
    h.add_argument("--json", action="store_true", help="one JSON object per line")
    h.set_defaults(func=run_head)

    n = sub.add_parser("count", help="number of records")
    n.add_argument("paths", nargs="+")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=run_count)


def run_convert(args) -> int:
    import warnings

    from tfforge._console import human_bytes
    from tfforge import records

    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            if args.runner:
                from tfforge.records import beam

                if args.sequence:
                    raise SystemExit("tfforge: error: --sequence is not supported with --runner")
                paths = beam.convert(args.src, args.prefix, runner=args.runner, pipeline_args=args.pipeline_arg,
                                     shards=args.shards, compression=args.compression, spec=args.spec)
            else:
                paths = records.convert(args.src, args.prefix, shards=args.shards,
                                        records_per_shard=args.records_per_shard, compression=args.compression,
                                        workers=args.workers, spec=args.spec, progress=not args.no_progress,
                                        resize=args.resize, image_format=args.image_format, quality=args.quality,
                                        sequence=args.sequence)
        finally:
            for w in caught:  # one line each, e.g. files of an image folder that are not images
                if issubclass(w.category, UserWarning):
                    print(f"tfforge: warning: {w.message}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    spec = records.spec(args.prefix)
    size = sum(os.path.getsize(p) for p in paths)
    nrec = spec.metadata.get("records")
    if nrec is None:
        nrec = records.count(paths)
    if args.json:
        print(json.dumps({"shards": paths, "spec": f"{args.prefix}.spec.json", "records": nrec, "bytes": size,
                          "seconds": elapsed}, indent=2))
    else:
        print(f"wrote {nrec:,} records in {len(paths)} shard(s), {human_bytes(size)}, in {elapsed:.2f} s "
              f"({nrec / max(elapsed, 1e-9):,.0f} rec/s)")
        for p in paths:
            print(f"  {p}")
        print(f"  {args.prefix}.spec.json")
    return 0


def _short(value, limit=8) -> str:
    def one(x):
        if isinstance(x, bytes):
            try:
                s = x.decode("utf-8")
                return repr(s if len(s) <= 40 else s[:40] + "...")
            except UnicodeDecodeError:
                return f"<{len(x)} bytes>"
        if isinstance(x, float):
            return f"{x:.6g}"
        return str(x)

    shown = ", ".join(one(x) for x in value[:limit])
    more = f", ... ({len(value)} values)" if len(value) > limit else ""
    return f"[{shown}{more}]"


def _jsonable(value):
    out = []
    for x in value:
        if isinstance(x, bytes):
            try:
                out.append(x.decode("utf-8"))
            except UnicodeDecodeError:
                out.append({"base64": base64.b64encode(x).decode()})
        else:
            out.append(x)
    return out


def _print_records(recs, first_index=0):
    for k, rec in enumerate(recs):
        print(f"record {first_index + k}:")
        names = {name: _name(name) for name in rec}
        width = max((len(n) for n in names.values()), default=0)
        for name, (kind, values) in rec.items():
            print(f"  {names[name]:<{width}}  {kind or 'empty':<5}  {_short(values)}")


def run_head(args) -> int:
    from tfforge import records

    path = records.resolve_paths(args.path)[0]
    recs = records.head(path, args.n)
    if args.json:
        for rec in recs:
            print(json.dumps({_name(name): {"kind": kind, "values": _jsonable(v)} for name, (kind, v) in rec.items()}))
    else:
        _print_records(recs)
    return 0


def run_inspect(args) -> int:
    from tfforge._console import format_table, human_bytes
    from tfforge import records
    from tfforge.records.reader import find_spec

    paths = records.resolve_paths(args.path)
    spec = find_spec(paths)
    source = "spec file"
    if spec is None:
        spec, source = records.infer_spec(paths[0]), "inferred from the first records"
    files = [{"path": p, "records": records.count(p), "bytes": os.path.getsize(p),
              "compression": _native_compression(p)} for p in paths]
    recs = records.head(paths[0], args.n)
    if args.json:
        print(json.dumps({"spec": spec.to_json(), "spec_source": source, "files": files,
                          "records": [{_name(n): {"kind": k, "values": _jsonable(v)} for n, (k, v) in r.items()}
                                      for r in recs]},
                         indent=2))
        return 0
    print(f"{len(files)} file(s), {sum(f['records'] for f in files):,} records, "
          f"{human_bytes(sum(f['bytes'] for f in files))}")
    print(format_table([(os.path.basename(f["path"]), f["records"], f["bytes"], f["compression"]) for f in files],
                       ["file", "records", "bytes", "compression"]))
    print(f"\nspec ({source}):")
    print(format_table([(_name(name), f.kind, "variable" if f.varlen else str(list(f.shape)), f.dtype,
                         f.type + (" (feature list)" if f.sequence else ""))
                        for name, f in spec.items()], ["feature", "kind", "shape", "dtype", "type"]))
    if spec.classes:
        print(f"classes: {', '.join(spec.classes)}")
    print()
    _print_records(recs)
    return 0


def _native_compression(path) -> str:
    from tfforge import _native

    return _native.detect_compression(path)


def run_verify(args) -> int:
    from tfforge._console import Progress, format_table
    from tfforge import records

    paths = records.resolve_paths(args.paths)
    reports = []
    with Progress("verify", total=len(paths), unit="file") as bar:
        for p in paths:
            reports.append(records.verify(p, examples=args.examples))
            bar.update(1, os.path.getsize(p))
    report = records.VerifyReport([f for r in reports for f in r.files])
    if args.json:
        print(json.dumps({"ok": report.ok, "records": report.records, "bytes": report.bytes, "files": report.files},
                         indent=2))
    else:
        print(format_table([(f["path"], f["records"], f["bytes"], len(f["errors"])) for f in report.files],
                           ["file", "records", "bytes", "errors"]))
        for e in report.errors:
            print(f"{e['path']}: record {e['record']}, byte offset {e['offset']}: {e['reason']}", file=sys.stderr)
        print(f"{'OK' if report.ok else 'FAILED'}: {report.records:,} records, {len(report.errors)} error(s)")
    return 0 if report.ok else 1


def run_count(args) -> int:
    from tfforge import records

    paths = records.resolve_paths(args.paths)
    counts = {p: records.count(p) for p in paths}
    if args.json:
        print(json.dumps({"total": sum(counts.values()), "files": counts}))
    else:
        print(sum(counts.values()))
    return 0
