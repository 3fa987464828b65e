"""atheris fuzz target for the native wire parser, graph passes and text format: any input may raise a
tfforge error, nothing else (no crash, hang or other exception). Run by test_graph_fuzz.py as
    python tests/graph_fuzz_target.py -max_total_time=20 WORKDIR

The native module is not coverage-instrumented (gcc builds), so besides the raw fuzz input each run
also mutates a file of the kept corpus (tests/graph_fuzz_corpus) as the input directs: bit flips,
byte overwrites, truncation, spliced-in varints. Valid structure stays mostly intact, so the
mutations reach node, attribute, function and text parsing instead of dying at the first tag.
"""

import os
import sys

import atheris

with atheris.instrument_imports():
    from tfforge import _native
    from tfforge.errors import TfforgeError


def exercise_graph(data: bytes) -> None:
    g = _native.graph_from_buffer(data, "fuzz.pb")
    nodes = g.nodes()
    g.to_bytes()
    g.const_stats()
    g.called_functions()
    for name, _, _, _ in nodes[:8]:
        for key, kind in g.attr_kinds(name):
            g.attr_value(name, key)
            if kind == 8:
                g.tensor(name, key)
    if nodes:
        out = [nodes[-1][0]]
        g.apply("strip_unused_nodes remove_device remove_nodes(op=Identity) merge_duplicate_nodes "
                "obfuscate_names sort_by_execution_order", [], out).to_bytes()


CORPUS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graph_fuzz_corpus")
SEEDS = [open(os.path.join(CORPUS_DIR, f), "rb").read() for f in sorted(os.listdir(CORPUS_DIR))]


def mutate(data: bytes) -> bytes:
    fdp = atheris.FuzzedDataProvider(data)
    buf = bytearray(SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)])
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        if not buf:
            break
        pos = fdp.ConsumeIntInRange(0, len(buf) - 1)
        op = fdp.ConsumeIntInRange(0, 4)
        if op == 0:
            buf[pos] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        elif op == 1:
            buf[pos] = fdp.ConsumeIntInRange(0, 255)
        elif op == 2:
            del buf[pos:]
        elif op == 3:
            buf[pos:pos] = bytes([0xff] * fdp.ConsumeIntInRange(1, 10)) + b"\x01"
        else:
            buf[pos:pos + 1] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 6))
    return bytes(buf)


def TestOneInput(data: bytes) -> None:
    run_all(data)
    if SEEDS:
        run_all(mutate(data))


def run_all(data: bytes) -> None:
    for step in (exercise_graph,
                 lambda d: _native.print_text("tensorflow.GraphDef", d),
                 lambda d: _native.parse_text("tensorflow.GraphDef", d),
                 lambda d: _native.saved_model_graphs(d, "fuzz"),
                 lambda d: _native.meta_graph_from_buffer(d, "fuzz.meta"),
                 lambda d: _native.decode_message("tensorflow.MetaGraphDef", d)):
        try:
            step(data)
        except TfforgeError:
            pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
