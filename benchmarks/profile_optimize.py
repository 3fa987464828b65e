"""Where the time of the BERT-style encoder of bench_optimize.py goes, per op type, before and after
`tfforge optimize`: each SavedModel is run in a tf.compat.v1 Session with FULL_TRACE (grappler on, as in
serving), and the kernels' times from the step stats are summed per op type (best of --runs traced runs).

usage: python benchmarks/profile_optimize.py [--layers N] [--runs N] [--patterns P,...] [--top N] [--json]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_optimize  # noqa: E402


def op_times(tf, path: Path, feeds: dict, runs: int) -> dict:
    """{op type: [milliseconds, kernel count]} of the fastest of `runs` traced runs, and the wall time."""
    g = tf.Graph()
    with g.as_default(), tf.compat.v1.Session(graph=g) as sess:
        meta = tf.compat.v1.saved_model.loader.load(sess, ["serve"], str(path))
        sig = meta.signature_def["serving_default"]
        fd = {g.get_tensor_by_name(sig.inputs[k].name): v for k, v in feeds.items()}
        out = [g.get_tensor_by_name(v.name) for v in sig.outputs.values()]
        for _ in range(2):
            sess.run(out, fd)
        best = None
        for _ in range(runs):
            opts = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
            md = tf.compat.v1.RunMetadata()
            t0 = time.perf_counter()
            sess.run(out, fd, options=opts, run_metadata=md)
            wall = time.perf_counter() - t0
            if best is None or wall < best[0]:
                best = (wall, md)
    wall, md = best
    per = collections.defaultdict(lambda: [0.0, 0])
    for dev in md.step_stats.dev_stats:
        for n in dev.node_stats:
            label = n.timeline_label  # "name = Op(inputs)"
            op = label.split(" = ", 1)[1].split("(", 1)[0].strip() if " = " in label else n.node_name
            per[op][0] += n.op_end_rel_micros / 1e3
            per[op][1] += 1
    return {"wall_ms": round(wall * 1e3, 1), "ops": {k: [round(v[0], 2), v[1]] for k, v in per.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, default=bench_optimize.FULL["layers"])
    p.add_argument("--runs", type=int, default=3, help="traced runs per model; the fastest is reported")
    p.add_argument("--patterns", default=None, help="what `tfforge optimize` fuses (default: its default)")
    p.add_argument("--top", type=int, default=12, help="op types listed per model")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from tfforge import _tf
    tf, keras = _tf.tf(), _tf.keras()
    import numpy as np
    import tfforge.ops  # noqa: F401
    cfg = dict(bench_optimize.FULL, layers=args.layers)
    report = {"config": cfg, "load_average_at_start": list(os.getloadavg()), "models": {}}
    with tempfile.TemporaryDirectory(prefix="tfforge_profile_optimize_") as tmp:
        keras.utils.set_random_seed(0)
        src = bench_optimize.export(bench_optimize.build_encoder(cfg, fused=False, approximate=True),
                                    Path(tmp) / "unmodified")
        extra = ("--patterns", args.patterns) if args.patterns else ()
        proc = bench_optimize._cli("optimize", str(src), str(Path(tmp) / "optimized"), "--no-verify", *extra)
        if proc.returncode != 0:
            sys.exit(f"profile_optimize: `tfforge optimize` failed: {proc.stderr.strip()[-2000:]}")
        rng = np.random.default_rng(0)
        shape = (cfg["batch"], cfg["seq"])
        lengths = rng.integers(cfg["seq"] // 2, cfg["seq"] + 1, cfg["batch"])
        feeds = {"token_ids": rng.integers(0, cfg["vocab"], shape).astype(np.int32),
                 "segment_ids": (np.arange(cfg["seq"])[None, :] >= (lengths[:, None] // 2)).astype(np.int32),
                 "padding_mask": (np.arange(cfg["seq"])[None, :] < lengths[:, None]).astype(np.int32)}
        for name in ("unmodified", "optimized"):
            report["models"][name] = op_times(tf, Path(tmp) / name, feeds, args.runs)
    report["load_average_at_end"] = list(os.getloadavg())
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for name, r in report["models"].items():
        total = sum(v[0] for v in r["ops"].values())
        print(f"== {name}: wall {r['wall_ms']:.0f} ms, kernels {total:.0f} ms")
        for op, (ms, n) in sorted(r["ops"].items(), key=lambda kv: -kv[1][0])[:args.top]:
            print(f"  {op:20s} {ms:8.1f} ms {100 * ms / total:5.1f}%  x{n}")
    print(f"load average {report['load_average_at_start'][0]:.2f} -> {report['load_average_at_end'][0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
