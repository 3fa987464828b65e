"""benchmarks/bench_litert.py on a tiny model, one mode (no timing assertions)."""

from __future__ import annotations

import json
import os
import sys

import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("tfforge.keras")

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))


def test_bench_litert_reports_each_export(tmp_path):
    import bench_litert
    report = bench_litert.run(seq=4, hidden=8, ff=16, blocks=1, reps=2, modes=("none",), workdir=str(tmp_path))
    rows = {r["variant"]: r for r in report["results"]}
    assert sorted(rows) == ["plain", "plain-pinned", "tfforge"]
    assert rows["tfforge"]["whole"] and rows["tfforge"]["delegated"] == rows["tfforge"]["nodes"]
    assert not rows["plain"]["whole"] and rows["plain"]["dynamic_tensors"] > 0
    assert rows["plain"]["speedup_vs_plain"] == 1.0 and rows["plain"]["rel_diff_vs_plain"] == 0.0
    assert all(r["latency_ms"] > 0 and r["rel_err_vs_tf"] < 1e-5 for r in rows.values())
    assert "| none | tfforge |" in bench_litert.table(report)
    json.dumps(report)
