"""`tfforge convert SRC DST --to savedmodel|frozen|pb|pbtxt|tflite`, with a parity check after."""

from __future__ import annotations

import json

from tfforge.cli.freeze import add_freeze_options
from tfforge.cli.verify import positive_int


def _signature(text):
    """NAME=IN1,IN2:OUT1,OUT2 -> (NAME, ([IN..], [OUT..]))."""
    import argparse
    try:
        name, rest = text.split("=", 1)
        ins, outs = rest.split(":", 1)
    except ValueError:
        raise argparse.ArgumentTypeError("expected NAME=IN1,IN2:OUT1,OUT2") from None
    return name, ([i for i in ins.split(",") if i], [o for o in outs.split(",") if o])


def register(subparsers):
    p = subparsers.add_parser(
        "convert", help="convert a model between checkpoint, SavedModel, Keras, frozen .pb/.pbtxt and TFLite",
        description="Converts SRC into DST and, unless --no-verify, runs both on the same inputs and prints the "
                    "max absolute / relative error per output.")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--to", choices=["savedmodel", "frozen", "pb", "pbtxt", "tflite"],
                   help="output format (default: from DST's extension; a name without one is a SavedModel)")
    add_freeze_options(p)
    p.add_argument("--add-signature", action="append", type=_signature, default=[], metavar="NAME=INS:OUTS",
                   help="extra SavedModel signature, e.g. embed=x:embedding,norm (repeatable)")
    p.add_argument("--assets", action="append", default=[], help="file or directory copied into the SavedModel's assets/")
    p.add_argument("--quantize", choices=["none", "dynamic", "float16", "int8"], default="none", help="TFLite quantization")
    p.add_argument("--representative", metavar="DATA",
                   help="int8 calibration data (with --quantize int8 only): a .npz, a TFRecord prefix written by "
                        "tfforge.records, or `random`; the parity check then runs on it")
    p.add_argument("--select-tf-ops", action="store_true", help="let TFLite fall back to TensorFlow ops (Flex)")
    p.add_argument("--allow-custom-ops", action="store_true",
                   help="keep ops TFLite does not know as custom ops (a runtime must register kernels for them; "
                        "such a .tflite cannot be verified here)")
    p.add_argument("--keep-tfforge-ops", action="store_true",
                   help="do not rewrite tfforge's custom ops into built-in ops before TFLite conversion "
                        "(needs --allow-custom-ops: they become custom ops a runtime must provide)")
    p.add_argument("--input-shape", action="append", default=[], metavar="[NAME=]D0,D1,...",
                   help="TFLite: pin an input's shape (repeat per input; no NAME for a one-input model), so every "
                        "tensor is static and LiteRT's XNNPack delegate can take the whole graph")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check")
    p.add_argument("--keep-failed", action="store_true",
                   help="keep DST when the conversion or its parity check fails (removed by default)")
    p.add_argument("--samples", type=positive_int, default=4, help="random samples for the parity check")
    p.add_argument("--data", help=".npz with inputs for the parity check")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys
    import warnings

    from tfforge.convert import convert
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        result = _convert(convert, args)
    for w in caught:
        if issubclass(w.category, UserWarning) and w.filename.startswith(__file__.rsplit("/cli/", 1)[0]):
            print(f"tfforge: warning: {w.message}", file=sys.stderr)
    return _report(result, args)


def _convert(convert, args):
    return convert(
        args.src, args.dst, args.to, verify=not args.no_verify, samples=args.samples, data=args.data,
        inputs=args.inputs, outputs=args.outputs, signature=args.signature, tags=args.tags,
        signatures=dict(args.add_signature), assets=args.assets or None, quantize=args.quantize,
        representative=args.representative, select_tf_ops=args.select_tf_ops, allow_custom_ops=args.allow_custom_ops,
        decompose=not args.keep_tfforge_ops, safe_mode=not args.unsafe, graph=args.graph, meta=args.meta,
        clear_devices=args.clear_devices, variables=args.variables, exclude_variables=args.exclude_variables,
        initializer_nodes=args.initializer_nodes, keep_failed=args.keep_failed, input_shapes=args.input_shape or None)


def _report(result, args) -> int:
    from tfforge._console import human_bytes
    if args.json:
        doc = {k: v for k, v in result.__dict__.items() if k != "parity"}
        if result.parity:
            doc["parity"] = [o.__dict__ for o in result.parity.outputs]
        print(json.dumps(doc, indent=2, default=str))
        return 0
    print(f"converted {result.source_format} {args.src} -> {result.to} {args.dst} ({human_bytes(result.bytes_out)})")
    if args.quantize != "none" and result.bytes_in:
        print(f"  size: {human_bytes(result.bytes_in)} -> {human_bytes(result.bytes_out)} "
              f"({result.bytes_in / max(result.bytes_out, 1):.1f}x smaller)")
    for note in result.notes:
        print(f"  note: {note}")
    if result.parity:
        print(f"  parity on {result.parity.samples} samples:")
        for line in result.parity.table().splitlines():
            print(f"    {line}")
    return 0
