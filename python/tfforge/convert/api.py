"""tfforge.convert.freeze: any source format -> frozen GraphDef (.pb / .pbtxt)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from tfforge import formats
from tfforge.convert import graph_edit
from tfforge.convert.frozen import FrozenGraph
from tfforge.errors import ConversionError
from tfforge.graph.outputs import VARIABLE_OPS, detect_outputs, node_of


@dataclass
class FreezeResult:
    path: str
    source_format: str
    inputs: list
    outputs: list
    constants: int
    weight_bytes: int
    file_bytes: int
    seconds: dict = field(default_factory=dict)   # load / write
    notes: list = field(default_factory=list)


def _split(value):
    if value is None:
        return None
    if isinstance(value, str):
        value = value.split(",")
    return [v.strip() for v in value if v and v.strip()] or None


def load_frozen(src: str, *, outputs=None, inputs=None, signature: str | None = "serving_default", tags=None,
                clear_devices: bool = False, variables=None, exclude_variables=None, initializer_nodes=None,
                graph: str | None = None, meta: str | None = None, safe_mode: bool = True) -> FrozenGraph:
    """Loads SRC (checkpoint, SavedModel, Keras file, or a GraphDef) as a FrozenGraph. A SavedModel is
    frozen through its `signature` function, or with signature=None / "" through its MetaGraph by node
    names, as freeze_graph.py does."""
    outputs, inputs = _split(outputs), _split(inputs)
    variables, exclude_variables, initializer_nodes = _split(variables), _split(exclude_variables), \
        _split(initializer_nodes)
    tags = _split(tags)
    kind = formats.CHECKPOINT if graph else formats.detect(src)
    if kind == formats.META:
        kind, meta = formats.CHECKPOINT, meta or src
        src = formats.checkpoint_prefix(src)
    if kind == formats.CHECKPOINT:
        from tfforge.convert.checkpoint_source import freeze_checkpoint
        frozen = freeze_checkpoint(src, graph=graph, meta=meta, outputs=outputs, inputs=inputs, variables=variables,
                                   exclude_variables=exclude_variables, initializer_nodes=initializer_nodes)
    elif kind in (formats.FROZEN, formats.PBTXT):
        frozen = _graph_only(src, outputs, inputs)
    elif kind == formats.SAVEDMODEL and not signature:
        from tfforge.convert.savedmodel_source import freeze_metagraph
        frozen = freeze_metagraph(src, tags, outputs=outputs, inputs=inputs, variables=variables,
                                  exclude_variables=exclude_variables, initializer_nodes=initializer_nodes)
    else:
        if variables or exclude_variables or initializer_nodes:
            raise ConversionError("--variables / --exclude-variables / --initializer-nodes apply to TF1 "
                                  "checkpoints and GraphDefs", path=src)
        if kind == formats.SAVEDMODEL:
            from tfforge.convert.savedmodel_source import freeze_savedmodel
            frozen = freeze_savedmodel(src, signature, tags)
        elif kind == formats.KERAS:
            from tfforge.convert.keras_source import freeze_keras
            frozen = freeze_keras(src, safe_mode)
        elif kind == formats.KERAS_H5:
            from tfforge.convert.keras_source import freeze_keras_h5
            frozen = freeze_keras_h5(src, safe_mode)
        else:
            raise ConversionError(f"cannot freeze a {kind} file", path=src)
        if outputs or inputs:
            _restrict(frozen, outputs, inputs, src)
    if clear_devices:
        frozen.graph = graph_edit.clear_devices(frozen.graph)
    frozen.source_format = kind
    return frozen


def _graph_only(src, outputs, inputs) -> FrozenGraph:
    """A GraphDef without a checkpoint: pruned (and cut at --inputs) as asked."""
    from tfforge.convert.frozen import load_graph
    graph = load_graph(src)
    notes = []
    if any(n.op in VARIABLE_OPS for n in graph.nodes):
        notes.append("the graph has variables; give their checkpoint as SRC and this graph with --graph")
    if not outputs:
        outputs = detect_outputs(graph)
        notes.append(f"detected outputs: {', '.join(outputs)}")
    graph = graph_edit.prune(graph, outputs, inputs)
    inputs = inputs or [n.name for n in graph.nodes if n.op == "Placeholder"]
    return FrozenGraph(graph, {}, inputs=[node_of(i) for i in inputs],
                       outputs=[o if ":" in o else o + ":0" for o in outputs], notes=notes)


def _restrict(frozen: FrozenGraph, outputs, inputs, src):
    """--outputs / --inputs on a Keras or SavedModel source: prune to the named nodes."""
    if inputs:
        frozen.inputs = [node_of(i) for i in inputs]
    if outputs:
        frozen.outputs = [o if ":" in o else o + ":0" for o in outputs]
    frozen.graph = graph_edit.prune(frozen.graph, frozen.outputs, inputs)
    kept = {n.name for n in frozen.graph.nodes}
    frozen.weights = {k: v for k, v in frozen.weights.items() if k in kept}
    frozen.inputs = [i for i in frozen.inputs if i in kept]


def freeze(src: str, out: str, **options) -> FreezeResult:
    """Freezes SRC into OUT (.pb binary, .pbtxt text). Options: outputs, inputs, signature, tags,
    clear_devices, variables, exclude_variables, initializer_nodes, graph (a GraphDef for a checkpoint
    without .meta), meta, safe_mode."""
    from tfforge._tf import gc_paused
    with gc_paused():
        start = time.perf_counter()
        frozen = load_frozen(src, **options)
        loaded = time.perf_counter()
        size = frozen.write(out)
        done = time.perf_counter()
        return FreezeResult(path=os.fspath(out), source_format=frozen.source_format, inputs=frozen.inputs,
                            outputs=frozen.outputs, constants=len(frozen.weights),
                            weight_bytes=frozen.weight_bytes,
                            file_bytes=size, seconds={"load": loaded - start, "write": done - loaded},
                            notes=list(frozen.notes))
