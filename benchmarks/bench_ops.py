"""Fused ops vs TensorFlow's built-in compositions (tf.function and XLA), forward and forward+backward.

Writes benchmarks/results/ops[_<allocator>].json and .png and prints the tables. Each configuration
runs `tfforge bench ops` in a fresh process, because the CPU allocator is chosen at TensorFlow start-up:

- default: TensorFlow's default CPU allocator. Outputs this large come from freshly mapped pages on
  every call, so every variant pays page faults and page zeroing for each output it allocates
  (tfforge's ops ask for transparent huge pages on their outputs, which makes that far cheaper).
- bfc: TF_CPU_ALLOCATOR_USE_BFC=true, TensorFlow's pooling allocator: buffers are reused, and the
  times show the kernels themselves.

usage: python benchmarks/bench_ops.py [--allocator default|bfc|both] [--dtype float32 ...] [--shape 8192x1024 ...]
                                      [--device cpu|gpu] [--reps N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ALLOCATOR_ENV = {"default": {}, "bfc": {"TF_CPU_ALLOCATOR_USE_BFC": "true"}}


def run_config(allocator: str, args) -> dict:
    out_dir = RESULTS / ("ops" if allocator == "default" else f"ops_{allocator}")
    cmd = [sys.executable, "-m", "tfforge.cli.main", "bench", "ops", "--json", "--device", args.device,
           "--reps", str(args.reps), "--out", str(out_dir)]
    for d in args.dtype:
        cmd += ["--dtype", d]
    for s in args.shape:
        cmd += ["--shape", s]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **ALLOCATOR_ENV[allocator])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"bench_ops: {allocator} run failed:\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    from tfforge.bench.report import table, write_json, write_png
    write_json(report, out_dir / "ops.json")
    write_png(report, out_dir / "ops.png", title=f"tfforge fused ops vs TensorFlow built-ins ({allocator} CPU allocator)")
    print(f"\n== {allocator} CPU allocator ==\n{table(report)}\nwrote {out_dir}/ops.json, ops.png")
    return report


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--allocator", choices=["default", "bfc", "both"], default="both")
    p.add_argument("--dtype", action="append", default=None)
    p.add_argument("--shape", action="append", default=None)
    p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    p.add_argument("--reps", type=int, default=15)
    args = p.parse_args()
    args.dtype = args.dtype or ["float32"]
    args.shape = args.shape or ["8192x1024"]
    for allocator in (["default", "bfc"] if args.allocator == "both" else [args.allocator]):
        run_config(allocator, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
