"""Issue 10, point 1: commands that need neither TensorFlow nor numpy import neither. Each command runs
in a fresh interpreter where importing numpy or tensorflow raises (so a stray import fails the command
with a named module), and the interpreter reports at exit that neither is in sys.modules."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

import tfforge.checkpoint as ck
from tfforge._native import masked_crc32c


def _ld(field: int, payload: bytes) -> bytes:
    return bytes([field << 3 | 2, len(payload)]) + payload


def _node(name: bytes, op: bytes, *inputs: bytes) -> bytes:
    return _ld(1, _ld(1, name) + _ld(2, op) + b"".join(_ld(3, i) for i in inputs))


# A GraphDef: Placeholder x -> Identity y -> Identity z.
GRAPH = _node(b"x", b"Placeholder") + _node(b"y", b"Identity", b"x") + _node(b"z", b"Identity", b"y")

RUNNER = r"""
import importlib.abc, json, sys

BLOCKED = ("numpy", "tensorflow")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"blocked import of {name}")
        return None

sys.meta_path.insert(0, Block())
from tfforge.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "imported": sorted(m for m in BLOCKED if m in sys.modules)}), file=sys.stderr)
"""


def _frame(payload: bytes) -> bytes:
    n = struct.pack("<Q", len(payload))
    return n + struct.pack("<I", masked_crc32c(n)) + payload + struct.pack("<I", masked_crc32c(payload))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("noimports")
    (d / "g.pb").write_bytes(GRAPH)
    (d / "r.tfrecord").write_bytes(_frame(b"\x0a\x00") * 3)
    ck.write(str(d / "ckpt" / "m"), {"w": np.ones((2, 3), np.float32)})
    return d


COMMANDS = {
    "graph transform": ["graph", "transform", "{d}/g.pb", "{d}/out.pb", "--inputs", "x", "--outputs", "z",
                        "--transforms", "strip_unused_nodes remove_nodes(op=Identity)"],
    "graph to-text": ["graph", "to-text", "{d}/g.pb", "{d}/g.pbtxt"],
    "records count": ["records", "count", "{d}/r.tfrecord"],
    "records verify": ["records", "verify", "{d}/r.tfrecord"],
    "ckpt ls": ["ckpt", "ls", "{d}/ckpt/m"],
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_command_imports_neither_numpy_nor_tensorflow(inputs, name):
    argv = [a.format(d=inputs) for a in COMMANDS[name]]
    env = {k: v for k, v in os.environ.items() if k != "TFFORGE_DEBUG"}
    proc = subprocess.run([sys.executable, "-c", RUNNER, *argv], capture_output=True, text=True, env=env, timeout=120)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "imported": []}, proc.stderr
    assert proc.returncode == 0
