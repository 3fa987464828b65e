"""Runs the checkpoint fuzz target (tests/fuzz/checkpoint.py) for a bounded time: every mutated
checkpoint must read or raise a tfforge error."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("atheris")

SECONDS = int(os.environ.get("TFFORGE_FUZZ_SECONDS", "15"))


def test_fuzz_checkpoint_engine(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    work = tmp_path / "corpus"
    work.mkdir()
    res = subprocess.run(
        [sys.executable, os.path.join(here, "fuzz", "checkpoint.py"), f"-max_total_time={SECONDS}",
         "-rss_limit_mb=2048", "-timeout=10", f"-artifact_prefix={tmp_path}/", str(work),
         os.path.join(here, "fuzz", "corpus", "checkpoint")],
        capture_output=True, text=True, timeout=SECONDS + 120)
    crashes = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    assert res.returncode == 0 and not crashes, res.stderr[-4000:]
    assert "Done" in res.stderr
