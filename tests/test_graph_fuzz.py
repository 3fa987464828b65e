"""Runs the atheris fuzz target (tests/fuzz/graph.py) for a bounded time: the native wire
parser, passes and text format must turn every input into a result or a tfforge error."""

from __future__ import annotations

import os

import pytest

from fuzz_run import run_fuzz_target

pytest.importorskip("atheris")

SECONDS = int(os.environ.get("TFFORGE_FUZZ_SECONDS", "20"))


def test_fuzz_graph_parsers(tmp_path):
    res, crashes = run_fuzz_target("graph", tmp_path, SECONDS)
    assert res.returncode == 0 and not crashes, res.stderr[-4000:]
    assert "Done" in res.stderr
