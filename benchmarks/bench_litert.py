"""LiteRT export of a transformer MLP stack built with tfforge.keras layers vs the same model built from
stock Keras layers, in float32, float16, dynamic-range int8 and calibrated full int8.

For each mode, three .tflite files:
  plain          the stock Keras model, TFLite's default export (unknown batch dimension)
  plain-pinned   the stock Keras model with --input-shape (batch and sequence pinned)
  tfforge        the tfforge.keras model with --input-shape (tfforge ops rewritten for XNNPack; in int8
                 the norms and GELU stay float32)
and for each: how many nodes LiteRT's XNNPack delegate took (asked of the interpreter), the median
latency of one invoke (batch 1, XNNPack, --threads; all models timed round-robin), and the error against the TensorFlow model on
held-out inputs (max |y - y_tf| / max |y_tf|). Writes benchmarks/results/bench_litert.json.

  python benchmarks/bench_litert.py [--seq 128 --hidden 256 --ff 1024 --blocks 2] [--threads 1] [--quick]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import numpy as np

MODES = ("none", "float16", "dynamic", "int8")


def build_models(seq: int, hidden: int, ff: int, blocks: int, seed: int = 0):
    """(tfforge model, plain model) with the same weights: `blocks` x [LayerNorm -> Dense+GELU -> Dense
    -> residual], then RMSNorm and a Dense head."""
    from tfforge._tf import keras as get_keras
    import tfforge.keras as tfk
    keras = get_keras()

    def stack(dense_gelu, layer_norm, rms_norm):
        inp = keras.Input((seq, hidden), name="x")
        h = inp
        for b in range(blocks):
            y = layer_norm(epsilon=1e-5, name=f"ln{b}")(h)
            y = dense_gelu(ff, f"ff{b}")(y)
            y = keras.layers.Dense(hidden, name=f"proj{b}")(y)
            h = keras.layers.Add(name=f"res{b}")([h, y])
        h = rms_norm(epsilon=1e-6, name="rms")(h)
        return keras.Model(inp, keras.layers.Dense(hidden, name="head")(h))

    keras.utils.set_random_seed(seed)
    fused = stack(lambda units, name: tfk.DenseGELU(units, name=name), tfk.LayerNormalization,
                  tfk.RMSNormalization)
    plain = stack(lambda units, name: keras.layers.Dense(units, activation="gelu", name=name),
                  keras.layers.LayerNormalization, keras.layers.RMSNormalization)
    rng = np.random.default_rng(seed)
    fused.set_weights([w + 0.1 * rng.standard_normal(w.shape).astype(np.float32) for w in fused.get_weights()])
    plain.set_weights(fused.get_weights())
    return fused, plain


def _invoker(path: str, x: np.ndarray, threads: int):
    """interp.invoke of the .tflite with x set (batch 1, XNNPack applied as LiteRT does by default)."""
    from ai_edge_litert.interpreter import Interpreter
    interp = Interpreter(model_path=path, num_threads=threads)
    detail = interp.get_input_details()[0]
    if detail["shape_signature"][0] == -1:
        interp.resize_tensor_input(detail["index"], x.shape)
    interp.allocate_tensors()
    scale, zero = detail["quantization"]
    value = np.clip(np.round(x / scale + zero), -128, 127) if detail["dtype"] == np.int8 else x
    interp.set_tensor(detail["index"], value.astype(detail["dtype"]))
    return interp.invoke


def _interleaved_latency_ms(invokers: dict, reps: int) -> dict:
    """Median ms per model, timed round-robin (one call of each per round) so that load changes on a
    shared machine hit every model alike."""
    import time
    for fn in invokers.values():
        for _ in range(5):
            fn()
    seconds = {k: [] for k in invokers}
    for _ in range(reps):
        for k, fn in invokers.items():
            t0 = time.perf_counter()
            fn()
            seconds[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) * 1e3 for k, v in seconds.items()}


def _outputs(path: str, x: np.ndarray) -> np.ndarray:
    from tfforge.convert.runners import TFLiteRunner
    runner = TFLiteRunner(path)
    return runner.run({runner.inputs[0].name: x})[runner.outputs[0]]


def run(seq=128, hidden=256, ff=1024, blocks=2, threads=1, reps=50, modes=MODES, workdir=None) -> dict:
    from tfforge.bench.machine import machine_info
    from tfforge.convert import convert
    from tfforge.convert.litert_delegation import xnnpack_delegation
    fused, plain = build_models(seq, hidden, ff, blocks)
    rng = np.random.default_rng(1)
    calib = (0.5 + rng.standard_normal((64, seq, hidden))).astype(np.float32)
    held_out = (0.5 + rng.standard_normal((8, seq, hidden))).astype(np.float32)
    ref = fused.predict(held_out, verbose=0)
    scale = float(np.max(np.abs(ref)))
    rows, invokers = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-litert-", dir=workdir) as tmp:
        fused.save(os.path.join(tmp, "tfforge.keras"))
        plain.save(os.path.join(tmp, "plain.keras"))
        np.savez(os.path.join(tmp, "calib.npz"), x=calib)
        for mode in modes:
            rep = os.path.join(tmp, "calib.npz") if mode == "int8" else None
            outs = {}
            for variant, model, pinned in (("plain", "plain", False), ("plain-pinned", "plain", True),
                                           ("tfforge", "tfforge", True)):
                dst = os.path.join(tmp, f"{variant}_{mode}.tflite")
                convert(os.path.join(tmp, f"{model}.keras"), dst, quantize=mode, representative=rep, verify=False,
                        input_shapes=(1, seq, hidden) if pinned else None)
                d = xnnpack_delegation(dst)
                outs[variant] = _outputs(dst, held_out)
                invokers[mode, variant] = _invoker(dst, held_out[:1], threads)
                rows.append({"mode": mode, "variant": variant, "nodes": d.nodes, "delegated": d.delegated,
                             "partitions": d.partitions, "whole": d.whole, "left": sorted(set(d.left)),
                             "dynamic_tensors": len(d.dynamic), "bytes": os.path.getsize(dst),
                             "rel_err_vs_tf": float(np.max(np.abs(outs[variant] - ref)) / scale)})
            for r in rows:
                if r["mode"] == mode:
                    r["rel_diff_vs_plain"] = float(np.max(np.abs(outs[r["variant"]] - outs["plain"])) / scale)
        latency = _interleaved_latency_ms(invokers, reps)
    for r in rows:
        r["latency_ms"] = latency[r["mode"], r["variant"]]
        r["speedup_vs_plain"] = latency[r["mode"], "plain"] / r["latency_ms"]
    return {"benchmark": "litert", "machine": machine_info(threads=threads),
            "model": {"seq": seq, "hidden": hidden, "ff": ff, "blocks": blocks, "batch": 1}, "results": rows}


def table(report: dict) -> str:
    lines = ["| mode | export | XNNPack nodes | partitions | latency ms | vs plain | rel err vs TF |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in report["results"]:
        lines.append(f"| {r['mode']} | {r['variant']} | {r['delegated']}/{r['nodes']} | {r['partitions']} | "
                     f"{r['latency_ms']:.2f} | {r['speedup_vs_plain']:.2f}x | {r['rel_err_vs_tf']:.2e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--ff", type=int, default=1024)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=50, help="timed rounds (one invoke of every model each)")
    parser.add_argument("--quick", action="store_true", help="seq 16, hidden 32, ff 64, one block")
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "bench_litert.json"))
    args = parser.parse_args(argv)
    sizes = dict(seq=16, hidden=32, ff=64, blocks=1) if args.quick else \
        dict(seq=args.seq, hidden=args.hidden, ff=args.ff, blocks=args.blocks)
    report = run(threads=args.threads, reps=args.reps, **sizes)
    from tfforge.bench.report import write_json
    write_json(report, args.out)
    print(table(report))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
