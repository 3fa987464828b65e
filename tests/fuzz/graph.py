"""atheris fuzz target for the native wire parser, graph passes and text format: any input may raise a
tfforge error, nothing else (no crash, hang or other exception). Run by test_graph_fuzz.py and by
tools/sanitize.sh (see docs/fuzzing.md) as
    python tests/fuzz/graph.py -max_total_time=20 WORKDIR tests/fuzz/corpus/graph

Besides the raw fuzz input each run also mutates a file of the kept corpus (tests/fuzz/corpus/graph,
see _common.mutate), so the mutations reach node, attribute, function and text parsing instead of
dying at the first tag.
"""

import os
import sys

import atheris

with atheris.instrument_imports():
    from tfforge import _native
    from tfforge.errors import TfforgeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import mutate, seeds  # noqa: E402


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
        _native.fuse(g, ["layer_norm", "rms_norm", "bias_gelu", "projection"], out)[0].to_bytes()


CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "graph")
SEEDS = seeds(CORPUS)


def TestOneInput(data: bytes) -> None:
    run_all(data)
    run_all(mutate(atheris.FuzzedDataProvider(data), SEEDS))


def run_all(data: bytes) -> None:
    for step in (exercise_graph,
                 lambda d: _native.print_text("tensorflow.GraphDef", d),
                 lambda d: _native.parse_text("tensorflow.GraphDef", _native.print_text("tensorflow.GraphDef", d)),
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
