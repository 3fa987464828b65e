"""A Graph shared by Python threads: readers (to_bytes, save, apply, attribute and tensor views) run
while other threads edit it (replace_with_const). Before the graph took a lock, to_bytes() in one
thread during replace_with_const() in another corrupted the heap (5 of 5 runs); tools/sanitize.sh runs
this file under AddressSanitizer."""

from __future__ import annotations

import threading

import numpy as np

import tfforge.graph as tg
from tfforge import _native
from tfforge.graph import text

NODES = 40


def make_graph() -> tg.Graph:
    # Consts with a 256 KiB tensor each: to_bytes() spends its time copying them with the GIL released.
    body = "".join(
        f'node {{ name: "c{i}" op: "Const" attr {{ key: "dtype" value {{ type: DT_FLOAT }} }} '
        f'attr {{ key: "value" value {{ tensor {{ dtype: DT_FLOAT tensor_shape {{ dim {{ size: 65536 }} }} '
        f'tensor_content: "{"x" * 16}" }} }} }} }}\n'
        for i in range(NODES))
    data = bytearray(text.parse(body))
    g = tg.Graph.from_bytes(bytes(data))
    for i in range(NODES):  # real 256 KiB payloads, owned by the graph
        g.replace_with_const(f"c{i}", np.full(65536, i, np.float32))
    return g


def run_threads(*targets, seconds_of_work: int = 60):
    errors = []

    def wrap(fn):
        def run():
            try:
                for k in range(seconds_of_work):
                    fn(k)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_to_bytes_while_replacing_consts():
    g = make_graph()
    outputs = []

    def reader(k):
        data = g.to_bytes()
        if k % 10 == 0:
            outputs.append(data)

    def writer(k):
        i = k % NODES
        g.replace_with_const(f"c{i}", np.full(65536 + k, k, np.float32))

    run_threads(reader, writer, writer, reader)
    for data in outputs:
        back = tg.Graph.from_bytes(data)
        assert len(back) == NODES
        for i in (0, NODES - 1):
            arr = back.node(f"c{i}").attr["value"].numpy()
            assert (arr == arr[0]).all()  # never a mix of two writes
    assert len(tg.Graph.from_bytes(g.to_bytes())) == NODES


def test_views_save_and_passes_while_editing(tmp_path):
    g = make_graph()
    native = g._native

    def viewer(k):
        i = k % NODES
        arr = tg.Graph(native).node(f"c{i}").attr["value"].numpy()
        assert arr.dtype == object or (arr == arr[0]).all()  # a string const or one whole float write

    def saver(k):
        g.save(tmp_path / f"g{k % 3}.pb")
        small = g.apply("strip_unused_nodes remove_device", outputs=[f"c{k % NODES}"])
        assert len(small) == 1

    def writer(k):
        g.replace_with_const(f"c{(k * 7) % NODES}", np.full(1000 + k, 1.0, np.float32))
        g._native.replace_with_string_const(f"c{(k * 3) % NODES}", [1], [b"s" * k])

    run_threads(viewer, saver, writer, viewer)
    for k in range(3):
        assert len(tg.load(tmp_path / f"g{k}.pb")) == NODES


def test_copies_are_independent_of_the_original_lock():
    g = make_graph()
    copy = g._native.copy()
    assert isinstance(copy, _native.GraphDef)

    def edit_copy(k):
        copy.replace_with_const(f"c{k % NODES}", 1, [1], np.zeros(1, np.float32).view(np.uint8))

    def read_original(k):
        assert len(g.to_bytes()) > NODES * 65536 * 4

    run_threads(edit_copy, read_original, seconds_of_work=30)
