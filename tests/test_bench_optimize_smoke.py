"""benchmarks/bench_optimize.py end to end on a tiny encoder (no timing assertions): every variant runs,
agrees with the unmodified SavedModel, and the optimized one really runs tfforge's fused ops."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from _ops_cases import tf  # noqa: F401  (skips without TensorFlow)

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_optimize.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_optimize", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, optimized_by):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--small", "--rounds", "2", "--optimized-by", optimized_by,
                           "--json", "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)
    assert json.loads((tmp_path / "optimize.json").read_text()) == report
    return report


def _check(report):
    results = report["results"]
    assert list(results) == ["unmodified", "optimized", "xla"]
    for r in results.values():
        assert r["runs"] == 2
        assert 0 < r["best_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["cpu_median_ms"] > 0
        assert math.isfinite(r["speedup_vs_unmodified"]) and r["speedup_vs_unmodified"] > 0
        assert r["max_abs_diff_vs_unmodified"] < 1e-4
    assert results["unmodified"]["speedup_vs_unmodified"] == 1.0
    assert {"TfforgeLayerNorm", "TfforgeBiasGelu"} <= set(report["optimized_uses"])
    assert report["config"]["layers"] == 2 and report["machine"]["cpu_count"] >= 1


def test_keras_layers_variant(tmp_path):
    report = _run(tmp_path, "keras")
    _check(report)
    assert report["optimize_output"] is None


def test_tfforge_optimize_variant(tmp_path):
    if not _bench_module().have_optimize_cli():
        pytest.skip("this tfforge has no `tfforge optimize` command")
    report = _run(tmp_path, "cli")
    _check(report)
    assert report["optimized_by"] == "tfforge optimize"
    assert "projection 8" in report["optimize_output"]  # q, k, v, output of each of the 2 layers
