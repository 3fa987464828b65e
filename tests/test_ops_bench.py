"""`tfforge bench ops` and the benchmark harness on a tiny shape (no timing assertions)."""

import json
import subprocess
import sys

import pytest

from _ops_cases import tf  # noqa: F401  (skips without TensorFlow)
from tfforge.bench import ops as bench_ops
from tfforge.bench import report


def test_run_reports_every_variant_with_ratios(tmp_path):
    rep = bench_ops.run(ops=["layer_norm", "bias_gelu"], shapes=[(64, 128)], dtypes=["float32", "bfloat16"],
                        reps=1, bandwidth_gbps=10.0)
    rows = rep["results"]
    assert len(rows) == 2 * 2 * 2 * 3  # ops x dtypes x directions x variants
    assert {r["variant"] for r in rows} == {"tfforge", "builtin", "xla"}
    for r in rows:
        assert r["median_ms"] > 0 and r["gbps"] > 0
        assert r["pct_of_bandwidth"] == pytest.approx(100 * r["gbps"] / 10.0, rel=0.01)
    assert all(r["speedup"] == 1.0 for r in rows if r["variant"] == "tfforge")
    assert all(r["spread_pct"] >= 0 for r in rows)
    assert "layer_norm" in report.table(rep)
    assert json.loads(report.write_json(rep, tmp_path / "ops.json").read_text())["results"] == rows
    png = report.write_png(rep, tmp_path / "ops.png")
    if png is not None:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_json(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "bench", "ops", "--op", "rms_norm", "--shape",
                          "32x64", "--direction", "fwd", "--reps", "1", "--json", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rep = json.loads(out.stdout)
    assert rep["machine"]["measured_bandwidth_gbps"] > 0
    assert [r["variant"] for r in rep["results"]] == ["tfforge", "builtin", "xla"]
    assert (tmp_path / "ops.json").exists()


def test_bench_op_times_any_function_against_its_reference(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tfforge", "bench", "op", "tfforge.ops:bias_gelu", "--reference",
                          "tfforge.ops.reference:bias_gelu", "--shapes", "16x32,8x64", "--dtypes", "float32,bfloat16",
                          "--xla", "--backward", "--reps", "2", "--json", "--out", str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rep = json.loads(out.stdout)
    rows = rep["results"]
    assert len(rows) == 2 * 2 * 2 * 3  # shapes x dtypes x directions x variants
    cases = {(s, d) for s in ("16x32", "8x64") for d in ("float32", "bfloat16")}
    assert {(r["shape"], r["dtype"]) for r in rows} == cases
    assert {r["variant"] for r in rows} == {"op", "reference", "xla"}
    assert all(r["speedup"] == 1.0 for r in rows if r["variant"] == "op")
    assert rep["machine"]["cpu_count"] >= 1 and "load_average" in rep["machine"]
    assert (tmp_path / "bias_gelu.json").exists()


@pytest.mark.parametrize("args, message", [
    (["no_such_module:fn"], "cannot import 'no_such_module'"),
    (["tfforge.ops"], "expected MODULE:FUNCTION"),
    (["tfforge.ops:nope"], "has no 'nope'"),
    (["tfforge.ops:bias_gelu", "--dtypes", "float33"], "bad dtype 'float33'"),
])
def test_bench_op_bad_arguments_are_one_line(args, message):
    out = subprocess.run([sys.executable, "-m", "tfforge", "bench", "op", *args, "--shapes", "4x8", "--reps", "1"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and message in out.stderr.strip().splitlines()[-1]
    assert "Traceback" not in out.stderr


def test_cli_rejects_bad_shape():
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "bench", "ops", "--shape", "8192xq"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "bad shape" in out.stderr
