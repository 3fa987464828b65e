"""Writing a graph for TensorBoard's graph dashboard, without TensorFlow or TensorBoard installed."""

from __future__ import annotations

import os
import socket
import time

from tfforge import _native


def write_graph_event(graph, logdir: str) -> str:
    """Writes logdir/events.out.tfevents.<time>.<host>.graph (TFRecord-framed Event protos: the file
    version, then the GraphDef) and returns its path."""
    os.makedirs(logdir, exist_ok=True)
    now = time.time()
    path = os.path.join(logdir, f"events.out.tfevents.{int(now)}.{socket.gethostname()}.{os.getpid()}.graph")
    _native.write_graph_events(graph._native, path, now)
    return path
