"""Graphs past protobuf's 2 GB limit (slow: writes a 2.5 GB file; run with -m slow)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import tfforge.graph as tg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))


@pytest.mark.slow
def test_graph_over_2gb(tmp_path):
    import bench_graph
    src = str(tmp_path / "big.pb")
    info = bench_graph.write_dense_stack(src, 38)
    assert info["bytes"] > 2**31
    g = tg.load(src)
    assert len(g) == 1 + 38 * 6 + 1
    small = g.apply("strip_unused_nodes remove_device", inputs=["x"], outputs=["output"])
    out = str(tmp_path / "out.pb")
    small.save(out)
    again = tg.load(out)
    assert len(again) == 1 + 38 * 5 + 1 and all(n.device == "" for n in again.nodes)
    kernel = again.node("dense_37/kernel").attr["value"].numpy()
    assert kernel.shape == (4096, 4096) and np.isfinite(kernel).all()
    np.testing.assert_array_equal(kernel, g.node("dense_37/kernel").attr["value"].numpy())
