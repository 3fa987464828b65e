"""`tfforge graph tensorboard` writes an events file TensorFlow and TensorBoard read the graph from;
the demo step inspects and prunes its embedded graph."""

from __future__ import annotations

import os

import pytest

import graph_models as gm
from tfforge.cli.main import main

pytestmark = pytest.mark.tensorflow


def test_events_file_holds_the_graph(tmp_path):
    t = gm.tf()
    data, _, _ = gm.mobilenet()
    src = tmp_path / "m.pb"
    src.write_bytes(data)
    logdir = tmp_path / "logs"
    assert main(["graph", "tensorboard", str(src), str(logdir)]) == 0
    (events,) = os.listdir(logdir)
    assert "tfevents" in events
    records = list(t.compat.v1.train.summary_iterator(str(logdir / events)))  # checks every CRC
    assert records[0].file_version == "brain.Event:2"
    gd = t.compat.v1.GraphDef()
    gd.ParseFromString(records[1].graph_def)
    assert gd == gm.graph_def(data)


def test_tensorboard_loads_the_graph(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    data, _, _ = gm.tf1_control_flow()
    src = tmp_path / "g.pb"
    src.write_bytes(data)
    assert main(["graph", "tensorboard", str(src), str(tmp_path / "logs")]) == 0
    acc = event_accumulator.EventAccumulator(str(tmp_path / "logs"))
    acc.Reload()
    assert acc.Tags()["graph"] is True
    assert [n.name for n in acc.Graph().node] == [n.name for n in gm.graph_def(data).node]


def test_demo_step(tmp_path):
    from tfforge.demos.graph import demo_step
    out = demo_step(str(tmp_path))
    assert "41 -> 32 nodes" in out and "h_check" in out
    assert (tmp_path / "demo_pruned.pb").exists() and (tmp_path / "demo_pruned.pbtxt").exists()
