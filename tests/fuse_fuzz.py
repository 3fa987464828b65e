"""Byte-flip robustness shared by the fusion-pass tests: a damaged graph either parses and goes
through the passes, or raises a tfforge error; never a crash."""

import numpy as np

import tfforge.graph as tg
from tfforge import _native
from tfforge.errors import TfforgeError


def flip_bytes_and_fuse(data: bytes, patterns: list, outputs: list, seed: int, rounds: int = 300) -> set:
    """Runs `patterns` on `rounds` copies of `data` with 1-3 random bytes changed; returns the outcomes
    seen ("ok" and/or "error"). Anything but a graph or a TfforgeError propagates."""
    rng = np.random.default_rng(seed)
    outcomes = set()
    for _ in range(rounds):
        buf = bytearray(data)
        for i in rng.integers(0, len(buf), int(rng.integers(1, 4))):
            buf[i] = int(rng.integers(0, 256))
        try:
            g = tg.Graph.from_bytes(bytes(buf))
            _native.fuse(g._native, patterns, outputs)
            outcomes.add("ok")
        except TfforgeError:
            outcomes.add("error")
    return outcomes
