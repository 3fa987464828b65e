"""Reports of a benchmark run: a text table, JSON, and a PNG chart (matplotlib, the `bench` extra)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tfforge._console import format_table
from tfforge._io import atomic_write


def table(report: dict) -> str:
    m = report["machine"]
    rows = [[r["op"], r["direction"], r["shape"], r["dtype"], r["variant"], f"{r['median_ms']:.3f}",
             f"{r['tfforge_speedup']:.2f}x", f"{r['gbps']:.1f}", f"{r['pct_of_bandwidth']:.0f}%"]
            for r in report["results"]]
    head = (f"device: {m['device']}  measured memory bandwidth: {m['measured_bandwidth_gbps']:.1f} GB/s  "
            f"TensorFlow {m['tensorflow']}  CPU allocator: {m.get('cpu_allocator', 'default')}")
    return head + "\n" + format_table(
        rows, ["op", "direction", "shape", "dtype", "variant", "median ms", "tfforge speedup", "GB/s", "% of bw"])


def _atomic_write(path: Path, write) -> None:
    """write(file object) fills `path` through tfforge._io.atomic_write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
        write(f)


def write_json(report: dict, path) -> Path:
    path = Path(path)
    _atomic_write(path, lambda f: f.write((json.dumps(report, indent=2) + "\n").encode()))
    return path


def write_png(report: dict, path, title: str = "tfforge fused ops vs TensorFlow built-ins") -> Path | None:
    """Grouped bars of median time per case and variant; returns None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    results = report["results"]
    cases = list(dict.fromkeys((r["op"], r["direction"], r["shape"], r["dtype"]) for r in results))
    variants = list(dict.fromkeys(r["variant"] for r in results))
    ms = {(r["op"], r["direction"], r["shape"], r["dtype"], r["variant"]): r["median_ms"] for r in results}
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(cases)), 4.5))
    width = 0.8 / max(1, len(variants))
    for i, v in enumerate(variants):
        xs = [c + (i - (len(variants) - 1) / 2) * width for c in range(len(cases))]
        bars = ax.bar(xs, [ms.get(case + (v,), 0) for case in cases], width, label=v)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels(["\n".join(c) for c in cases], fontsize=7)
    ax.set_ylabel("median ms (lower is better)")
    m = report["machine"]
    ax.set_title(f"{title}\n{m['device']}, measured bandwidth {m['measured_bandwidth_gbps']:.1f} GB/s", fontsize=9)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    _atomic_write(path, lambda f: fig.savefig(f, dpi=110, format="png"))
    plt.close(fig)
    return path
