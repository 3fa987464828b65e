"""Runs the atheris fuzz target (tests/fuzz/graph.py) for a bounded time: the native wire
parser, passes and text format must turn every input into a result or a tfforge error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("atheris")

SECONDS = int(os.environ.get("TFFORGE_FUZZ_SECONDS", "20"))


def test_fuzz_graph_parsers(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    work = tmp_path / "corpus"
    work.mkdir()
    res = subprocess.run(
        [sys.executable, os.path.join(here, "fuzz", "graph.py"), f"-max_total_time={SECONDS}",
         "-rss_limit_mb=2048", "-timeout=10", f"-artifact_prefix={tmp_path}/", str(work),
         os.path.join(here, "fuzz", "corpus", "graph")],
        capture_output=True, text=True, timeout=SECONDS + 120)
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert res.returncode == 0 and not crashes, res.stderr[-4000:]
    assert "Done" in res.stderr
