"""Runs the checkpoint fuzz target (tests/fuzz/checkpoint.py) for a bounded time: every mutated
checkpoint must read or raise a tfforge error."""

from __future__ import annotations

import os

import pytest

from fuzz_run import run_fuzz_target

pytest.importorskip("atheris")

SECONDS = int(os.environ.get("TFFORGE_FUZZ_SECONDS", "15"))


def test_fuzz_checkpoint_engine(tmp_path):
    res, crashes = run_fuzz_target("checkpoint", tmp_path, SECONDS)
    assert res.returncode == 0 and not crashes, res.stderr[-4000:]
    assert "Done" in res.stderr
