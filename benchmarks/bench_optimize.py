"""End-to-end CPU serving latency of a BERT-style encoder SavedModel: unmodified (grappler on, the
default), rewritten to tfforge's fused ops, and the unmodified model under XLA, in one run.

The encoder is built here with random weights: token + position + segment embeddings, LayerNorm, then
``--layers`` post-LayerNorm transformer blocks (multi-head attention, add, LayerNorm, Dense + GELU,
Dense, add, LayerNorm), with a padding mask: the structure of BERT and keras-hub's BertBackbone,
GELU in its tanh form as there (``--erf-gelu`` for the exact form). Variants:

- ``unmodified``: the exported SavedModel, loaded with ``tf.saved_model.load`` and called through
  its ``serve`` signature (grappler runs with its default passes, oneDNN as TensorFlow configures it).
- ``optimized``: the same SavedModel after ``tfforge optimize`` (its default patterns: LayerNorm,
  RMSNorm, bias + GELU and the attention projections) when this tfforge has the command
  (``--optimized-by cli``; ``--patterns`` passes a list to it); otherwise (``keras``) the same model built with ``tfforge.keras`` layers
  (LayerNormalization, DenseGELU) holding the same weights and exported the same way: the ops the
  rewrite puts in (TfforgeLayerNorm, MatMul + TfforgeBiasGelu).
- ``xla``: the unmodified SavedModel's ``serve`` function called inside ``tf.function(jit_compile=True)``.

The variants are called round-robin (one call of each per round, the first of the round rotating)
so that load from other processes falls on all of them alike; each reports median and p90 latency over the timed rounds (warm-up rounds
excluded) and its speed-up over ``unmodified`` (ratio of medians). Outputs are checked against the
unmodified model before timing.

usage: python benchmarks/bench_optimize.py [--small] [--layers N] [--rounds N] [--erf-gelu]
                                          [--optimized-by auto|cli|keras] [--patterns P,...]
                                          [--onednn default|on|off]
                                          [--out DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

FULL = dict(layers=4, hidden=768, heads=12, ffn=3072, seq=128, batch=8, vocab=30522, rounds=30, warmup=3)
SMALL = dict(layers=2, hidden=64, heads=4, ffn=256, seq=16, batch=2, vocab=512, rounds=3, warmup=1)


def build_encoder(cfg: dict, fused: bool, approximate: bool):
    """The BERT-style encoder as a functional Keras model ({token_ids, segment_ids, padding_mask}, each
    [batch, seq] int32 -> [batch, seq, hidden]);
    ``fused`` builds it from tfforge.keras layers instead of Keras's LayerNormalization and Dense(gelu)."""
    from tfforge import _tf
    keras = _tf.keras()
    if fused:
        import tfforge.keras as tk
        norm = lambda name: tk.LayerNormalization(epsilon=1e-12, name=name)  # noqa: E731
        ffn_in = lambda name: tk.DenseGELU(cfg["ffn"], approximate=approximate, name=name)  # noqa: E731
    else:
        norm = lambda name: keras.layers.LayerNormalization(epsilon=1e-12, name=name)  # noqa: E731
        gelu = lambda t: keras.activations.gelu(t, approximate=approximate)  # noqa: E731
        ffn_in = lambda name: keras.layers.Dense(cfg["ffn"], activation=gelu, name=name)  # noqa: E731
    hidden, seq = cfg["hidden"], cfg["seq"]
    ids = keras.Input(shape=(seq,), dtype="int32", name="token_ids")
    segments = keras.Input(shape=(seq,), dtype="int32", name="segment_ids")
    padding_mask = keras.Input(shape=(seq,), dtype="int32", name="padding_mask")
    position_ids = keras.ops.cumsum(keras.ops.ones_like(ids), axis=1) - 1  # 0 .. seq-1 in every row
    x = (keras.layers.Embedding(cfg["vocab"], hidden, name="token_embedding")(ids)
         + keras.layers.Embedding(seq, hidden, name="position_embedding")(position_ids)
         + keras.layers.Embedding(2, hidden, name="segment_embedding")(segments))
    x = norm("embeddings_layer_norm")(x)
    # [batch, seq, seq]: every query may attend to the keys that are not padding.
    attention_mask = keras.ops.cast(keras.ops.expand_dims(padding_mask, 1) * keras.ops.expand_dims(padding_mask, 2),
                                    "bool")
    for i in range(cfg["layers"]):
        attn = keras.layers.MultiHeadAttention(cfg["heads"], hidden // cfg["heads"], name=f"layer_{i}_attention")(
            x, x, attention_mask=attention_mask)
        x = norm(f"layer_{i}_attention_layer_norm")(x + attn)
        h = ffn_in(f"layer_{i}_ffn_intermediate")(x)
        h = keras.layers.Dense(hidden, name=f"layer_{i}_ffn_output")(h)
        x = norm(f"layer_{i}_ffn_layer_norm")(x + h)
    return keras.Model({"token_ids": ids, "segment_ids": segments, "padding_mask": padding_mask}, x,
                       name="bert_style_encoder")


def export(model, path: Path) -> Path:
    model.export(str(path), format="tf_saved_model", verbose=False)
    return path


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tfforge.cli.main", *args], capture_output=True, text=True,
                          env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def have_optimize_cli() -> bool:
    return _cli("optimize", "--help").returncode == 0


def optimize_with_cli(src: Path, dst: Path, patterns: str | None = None) -> str:
    """Runs `tfforge optimize src dst --no-verify` and returns what it printed (the fused sites)."""
    extra = ("--patterns", patterns) if patterns else ()
    proc = _cli("optimize", str(src), str(dst), "--no-verify", *extra)  # outputs are compared below
    if proc.returncode != 0:
        sys.exit(f"bench_optimize: `tfforge optimize` failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc.stdout.strip()


def _stats(seconds: list[float], cpu_seconds: list[float]) -> dict:
    ms = sorted(s * 1e3 for s in seconds)
    p90 = statistics.quantiles(ms, n=10, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    # CPU time of this process per call (all its threads): the work done, which load from other
    # processes inflates far less than the wall time
    return {"median_ms": round(statistics.median(ms), 3), "p90_ms": round(p90, 3), "best_ms": round(ms[0], 3),
            "cpu_median_ms": round(statistics.median(cpu_seconds) * 1e3, 3), "runs": len(ms)}


def run(cfg: dict, approximate: bool, workdir: Path, optimized_by: str = "auto", patterns: str | None = None) -> dict:
    from tfforge import _tf
    tf = _tf.tf()
    keras = _tf.keras()
    import numpy as np
    import tfforge.ops  # noqa: F401  (registers the ops the optimized SavedModel needs)
    from tfforge.bench.machine import machine_info

    load_at_start = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    keras.utils.set_random_seed(0)
    plain = build_encoder(cfg, fused=False, approximate=approximate)
    src = export(plain, workdir / "unmodified")
    dst = workdir / "optimized"
    if optimized_by == "auto":
        optimized_by = "cli" if have_optimize_cli() else "keras"
    if optimized_by == "cli":
        how = "tfforge optimize" + (f" --patterns {patterns}" if patterns else "")
        cli_output = optimize_with_cli(src, dst, patterns)
    else:
        how, cli_output = "tfforge.keras layers holding the same weights", None
        fused = build_encoder(cfg, fused=True, approximate=approximate)
        fused.set_weights(plain.get_weights())
        export(fused, dst)

    loaded = [tf.saved_model.load(str(src)), tf.saved_model.load(str(dst))]  # held: .serve needs its variables
    base, opt = loaded[0].serve, loaded[1].serve
    xla = tf.function(lambda t: base(t), jit_compile=True)
    rng = np.random.default_rng(0)
    shape = (cfg["batch"], cfg["seq"])
    lengths = rng.integers(cfg["seq"] // 2, cfg["seq"] + 1, cfg["batch"])  # padded rows, as a serving batch has
    ids = {"token_ids": tf.constant(rng.integers(0, cfg["vocab"], shape), tf.int32),
           "segment_ids": tf.constant(np.arange(cfg["seq"])[None, :] >= (lengths[:, None] // 2), tf.int32),
           "padding_mask": tf.constant(np.arange(cfg["seq"])[None, :] < lengths[:, None], tf.int32)}
    variants = {"unmodified": base, "optimized": opt, "xla": xla}

    ref = base(ids).numpy()
    errors = {}
    for name, fn in variants.items():
        errors[name] = float(np.max(np.abs(fn(ids).numpy() - ref)))
    seconds = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    names = list(variants)
    for r in range(cfg["warmup"] + cfg["rounds"]):
        for name in names[r % len(names):] + names[:r % len(names)]:  # who goes first rotates
            fn = variants[name]
            c0, t0 = time.process_time(), time.perf_counter()
            fn(ids).numpy()
            if r >= cfg["warmup"]:
                seconds[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
    results = {name: dict(_stats(s, cpu[name]), max_abs_diff_vs_unmodified=errors[name])
               for name, s in seconds.items()}
    base_ms = results["unmodified"]["median_ms"]
    for name in results:
        results[name]["speedup_vs_unmodified"] = round(base_ms / results[name]["median_ms"], 3)
    return {"benchmark": "optimize", "config": dict(cfg, approximate_gelu=approximate), "optimized_by": how,
            "optimize_output": cli_output, "optimized_uses": sorted(tfforge.ops.required_ops(str(dst))),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"), "results": results,
            "machine": machine_info(intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads(),
                                    load_average_at_start=load_at_start)}


def table(report: dict) -> str:
    rows = ["| variant | median | p90 | best | vs unmodified | CPU time (median) | max abs diff |",
            "| --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in report["results"].items():
        rows.append(f"| {name} | {r['median_ms']:.2f} ms | {r['p90_ms']:.2f} ms | {r['best_ms']:.2f} ms | "
                    f"{r['speedup_vs_unmodified']:.2f}x | {r['cpu_median_ms']:.2f} ms | "
                    f"{r['max_abs_diff_vs_unmodified']:.2e} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", action="store_true", help="tiny encoder and few rounds (a smoke test)")
    p.add_argument("--layers", type=int)
    p.add_argument("--rounds", type=int)
    p.add_argument("--erf-gelu", action="store_true", help="exact (erf) GELU instead of keras-hub BERT's tanh form")
    p.add_argument("--optimized-by", choices=["auto", "cli", "keras"], default="auto",
                   help="how the optimized model is made: `tfforge optimize` (cli), tfforge.keras layers (keras), "
                        "or cli when this tfforge has the command (auto)")
    p.add_argument("--patterns", default=None,
                   help="patterns for `tfforge optimize` (default: its default, all of them)")
    p.add_argument("--onednn", choices=["default", "on", "off"], default="default",
                   help="TF_ENABLE_ONEDNN_OPTS for this run (TensorFlow's default turns oneDNN on only on some CPUs)")
    p.add_argument("--out", type=Path, default=RESULTS / "optimize")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    args = p.parse_args(argv)
    if args.onednn != "default":  # read when TensorFlow starts, so before it is imported
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"
    cfg = dict(SMALL if args.small else FULL)
    for key in ("layers", "rounds"):
        if getattr(args, key):
            cfg[key] = getattr(args, key)
    with tempfile.TemporaryDirectory(prefix="tfforge_bench_optimize_") as tmp:
        report = run(cfg, not args.erf_gelu, Path(tmp), args.optimized_by, args.patterns)
    from tfforge._io import atomic_write
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "optimize.json", "w") as f:
        json.dump(report, f, indent=2)
    print(json.dumps(report, indent=2) if args.json else
          f"{table(report)}\noptimized by: {report['optimized_by']}\nwrote {args.out / 'optimize.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
