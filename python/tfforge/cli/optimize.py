"""`tfforge optimize SRC DST`: fuse LayerNorm, RMSNorm and bias + GELU subgraphs into tfforge's ops, then
verify the result against the source."""

from __future__ import annotations

import json

from tfforge.cli.verify import positive_int


def register(subparsers):
    p = subparsers.add_parser(
        "optimize", help="fuse LayerNorm / RMSNorm / bias+GELU subgraphs of a SavedModel or frozen graph into tfforge ops, "
             "projections into MatMul + BiasAdd, and attention cores into TfforgeAttention",
        description="Rewrites the LayerNorm, RMSNorm and Dense+GELU subgraphs that Keras, tf.keras, keras-hub and "
                    "TF1 code build into TfforgeLayerNorm / TfforgeRMSNorm / TfforgeBiasGelu and the attention core of Keras' MultiHeadAttention into TfforgeAttention (graph and function "
                    "library; signatures, variables and assets kept), prints what it fused, and runs verify "
                    "between SRC and DST. The result loads after `import tfforge.ops`.")
    p.add_argument("src", help="SavedModel directory or frozen GraphDef (.pb / .pbtxt)")
    p.add_argument("dst", help="output: a SavedModel directory for a SavedModel, else a .pb / .pbtxt file")
    p.add_argument("--patterns", default="layer_norm,rms_norm,bias_gelu,projection,attention",
                   help="comma-separated, in order (default: layer_norm,rms_norm,bias_gelu,projection,attention)")
    p.add_argument("--explain", action="store_true", help="list every candidate site that was not fused, and why")
    p.add_argument("--no-verify", action="store_true", help="skip running both models and comparing their outputs")
    p.add_argument("--samples", type=positive_int, default=4, help="random samples for verify (default 4)")
    p.add_argument("--signature", default="serving_default", help="SavedModel signature verify runs")
    p.add_argument("--tags", default=None, help="SavedModel tags for verify, comma-separated")
    p.add_argument("--outputs", default="", help="frozen graphs: output node names to keep (default: detected)")
    p.add_argument("--tolerance", type=float, default=None, help="exit 1 when verify's max abs error exceeds this")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from tfforge.optimizer import optimize
    report = optimize(args.src, args.dst, patterns=[s.strip() for s in args.patterns.split(",") if s.strip()],
                      tags=args.tags.split(",") if args.tags else None, verify=not args.no_verify,
                      samples=args.samples, signature=args.signature,
                      outputs=[s.strip() for s in args.outputs.split(",") if s.strip()] or None)
    if args.json:
        data = report.to_dict()
        if not args.explain:
            data["sites"] = [s for s in data["sites"] if s["fused"]]
        print(json.dumps(data, indent=2, default=str))
    else:
        _print(report, args.explain)
    if args.tolerance is not None and report.parity is not None:
        over = [o for o in report.parity.outputs if not o.max_abs <= args.tolerance]
        for o in over:
            print(f"tfforge: error: output {o.a!r}: max abs error {o.max_abs:.6g} exceeds --tolerance "
                  f"{args.tolerance:g}", file=sys.stderr)
        if over:
            return 1
    return 0


def _print(report, explain: bool) -> None:
    from tfforge._console import format_table
    fused = [s for s in report.sites if s.fused]
    by_pattern = {}
    for s in fused:
        by_pattern[s.pattern] = by_pattern.get(s.pattern, 0) + 1
    summary = ", ".join(f"{p} {n}" for p, n in by_pattern.items()) or "nothing"
    print(f"{report.src} -> {report.dst}: fused {len(fused)} site(s) ({summary}); "
          f"{len(report.not_fused)} candidate(s) left alone")
    counts = {}
    for s in report.sites:
        row = counts.setdefault((s.function or "(graph)", s.pattern), [0, 0])
        row[0 if s.fused else 1] += 1
    if counts:
        rows = [(f, p, n[0], n[1]) for (f, p), n in sorted(counts.items())]
        print(format_table(rows, ["function", "pattern", "fused", "not fused"]))
    if explain:
        if report.not_fused:
            print("\nnot fused:")
            for s in report.not_fused:
                where = f" in {s.function}" if s.function else ""
                print(f"  {s.pattern}{where} at '{s.anchor}': {s.reason}")
        else:
            print("\nevery candidate site was fused")
    if report.parity is not None:
        print(f"\nverify: {report.parity.samples} samples, max abs error {report.parity.max_abs:.3g}")
        print(report.parity.table())
