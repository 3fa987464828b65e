"""TF1 checkpoints (a graph from the .meta beside them, or a GraphDef given separately) -> FrozenGraph,
without TensorFlow whenever the graph allows it.

No session and no variables: the .meta is read by the native graph engine, each variable's checkpoint
key comes from the saver's restore ops in that graph (RestoreV2's tensor_names and shape_and_slices
constants -> the Assign / AssignVariableOp that takes each output), else from a VarHandleOp's
shared_name or the variable's name (the case where freeze_graph.py fails on resource variables), and
the values stay ranges of the checkpoint's data files (tfforge.checkpoint's StoredBytes) that the graph
engine's writer streams into the Consts, checking each tensor's CRC32C on the bytes it writes. A partition of a partitioned variable becomes a Const of its slice
of the whole tensor, so the graph's concat of the partitions computes the variable as before.

TensorFlow is imported only when needed, with one logged line saying why: a V1 checkpoint (read by
TensorFlow's reader), or functional control flow to inline (Grappler)."""

from __future__ import annotations

import fnmatch
import os

import numpy as np

from tfforge import formats
from tfforge.checkpoint import Checkpoint
from tfforge.convert import graph_edit
from tfforge.convert.frozen import FrozenGraph, load_graph as load_graph_def, stored_weight
from tfforge.convert.v1_checkpoint import V1Checkpoint, is_v1_checkpoint
from tfforge.errors import ConversionError, GraphError
from tfforge.graph.graph import Graph
from tfforge.graph.outputs import VARIABLE_OPS, detect_outputs, node_of


def read_meta_graph(path: str) -> Graph:
    """A binary or text MetaGraphDef's graph (told apart by content), natively."""
    from tfforge import graph
    kind = formats.detect(path)
    if kind not in (formats.META_GRAPH, formats.META_GRAPH_TEXT):
        raise ConversionError(f"not a MetaGraphDef (this is a {kind} file)", path=path)
    try:
        return graph.load(path)
    except GraphError as exc:
        raise ConversionError(f"not a MetaGraphDef: {exc.message}", path=path) from None


def load_graph(src: str, graph: str | None = None, meta: str | None = None) -> tuple[str, Graph]:
    """(checkpoint prefix, Graph): from `graph` (a GraphDef file) or the MetaGraphDef `meta` (default:
    the .meta beside the checkpoint)."""
    prefix = formats.checkpoint_prefix(src)
    if not os.path.exists(prefix + ".index") and not is_v1_checkpoint(prefix):
        raise ConversionError("no checkpoint here (neither a V2 .index file nor a V1 checkpoint file)", path=prefix)
    if graph:
        return prefix, load_graph_def(graph)
    meta_path = meta or prefix + ".meta"
    if not os.path.exists(meta_path):
        raise ConversionError("no .meta graph beside the checkpoint; give the graph with --graph GRAPH.pb "
                              "(or --meta)", path=meta_path)
    return prefix, read_meta_graph(meta_path)


def _strings(node) -> list[str]:
    """The flattened values of a string Const node."""
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
            for v in node.attr["value"].numpy().reshape(-1).tolist()]


def checkpoint_keys(graph: Graph) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """(variable node -> checkpoint key, partition node -> (key of the whole tensor, slice spec)), read
    from the saver's restore ops: each Assign / AssignVariableOp fed (through Identity) by output i of a
    RestoreV2 (or V1 Restore) node restores key i of that node's tensor_names constant, the slice
    shape_and_slices[i] of it when that is not empty."""
    nodes = {n.name: n for n in graph.nodes}
    keys, sliced, consts = {}, {}, {}

    def values(name):
        if name not in consts:
            node = nodes.get(name)
            consts[name] = _strings(node) if node is not None and node.op == "Const" else None
        return consts[name]

    for node in graph.nodes:
        if node.op not in ("Assign", "AssignVariableOp") or len(node.inputs) < 2:
            continue
        source = node.inputs[1]
        while node_of(source) in nodes:
            producer = nodes[node_of(source)]
            if producer.op != "Identity" or not producer.inputs:
                break
            source = producer.inputs[0]
        restore = nodes.get(node_of(source))
        if restore is None or restore.op not in ("RestoreV2", "Restore") or len(restore.inputs) < 2:
            continue
        port = int(source.split(":")[1]) if ":" in source else 0
        names = values(node_of(restore.inputs[1]))
        if not names or port >= len(names):
            continue
        variable = node_of(node.inputs[0])
        specs = values(node_of(restore.inputs[2])) if restore.op == "RestoreV2" and len(restore.inputs) > 2 else None
        if specs and port < len(specs) and specs[port]:
            sliced[variable] = (names[port], specs[port])
        else:
            keys[variable] = names[port]
    return keys, sliced


def _slice(bundle, key: str, spec: str, node: str) -> np.ndarray:
    """The slice `spec` ("full dims... start,length:start,length" or "-" for a whole dimension, as
    TensorFlow's TensorSlice writes it) of checkpoint tensor `key`."""
    whole = bundle.view(key)
    parts = spec.split(" ")
    dims, extents = parts[:-1], parts[-1].split(":")
    try:
        full = tuple(int(d) for d in dims)
        index = []
        for extent in extents:
            if extent == "-":
                index.append(slice(None))
            else:
                start, length = (int(v) for v in extent.split(","))
                index.append(slice(start, start + length))
    except ValueError:
        raise ConversionError(f"cannot read the slice spec {spec!r} of the restore op", node=node) from None
    if full != tuple(whole.shape) or len(index) != len(full):
        raise ConversionError(f"the restore op's slice {spec!r} does not fit checkpoint tensor {key!r} of shape "
                              f"{tuple(whole.shape)}", node=node)
    return np.ascontiguousarray(whole[tuple(index)])


def _selected(name: str, include, exclude) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not (exclude and any(fnmatch.fnmatchcase(name, p) for p in exclude))


def _shared_name(node) -> str | None:
    if node.op != "VarHandleOp" or "shared_name" not in node.attr:
        return None
    value = node.attr["shared_name"]
    value = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    return value or None


def open_bundle(prefix: str, notes: list | None = None):
    """The checkpoint's tensors: natively for V2, through TensorFlow's reader for V1."""
    if is_v1_checkpoint(prefix) and not os.path.exists(prefix + ".index"):
        graph_edit.fallback(notes, "read the checkpoint with TensorFlow's reader: it is a V1 checkpoint "
                                   "(Saver(write_version=V1)), which tfforge's native engine does not read")
        return V1Checkpoint(prefix)
    return Checkpoint(prefix)


def weight(bundle, key: str):
    """Checkpoint tensor `key` for splicing: a StoredWeight range of its data shard when the tensor is
    stored whole (streamed by the writer, never held in memory), else its values."""
    stored = bundle.stored(key) if isinstance(bundle, Checkpoint) else None
    found = stored_weight(stored, bundle.dtype(key), bundle.shape(key)) if stored is not None else None
    return found if found is not None else bundle.view(key)


def freeze_checkpoint(src: str, graph: str | None = None, meta: str | None = None, outputs=None, inputs=None,
                      variables=None, exclude_variables=None, initializer_nodes=None) -> FrozenGraph:
    prefix, g = load_graph(src, graph, meta)
    return freeze_graph_def(prefix, g, outputs=outputs, inputs=inputs, variables=variables,
                            exclude_variables=exclude_variables, initializer_nodes=initializer_nodes)


def freeze_graph_def(prefix: str, graph: Graph, outputs=None, inputs=None, variables=None, exclude_variables=None,
                     initializer_nodes=None) -> FrozenGraph:
    """A TF1 graph whose variables the checkpoint PREFIX holds -> FrozenGraph pruned to `outputs`."""
    notes = []
    if not outputs:
        outputs = detect_outputs(graph)
        if not outputs:
            raise ConversionError("found no output nodes; name them with --outputs", path=prefix)
        notes.append(f"detected outputs: {', '.join(outputs)}")
    keys, sliced = checkpoint_keys(graph)
    roots = list(outputs) + list(initializer_nodes or [])
    graph = graph_edit.inline_functions(graph_edit.prune(graph, roots, inputs), roots, notes)
    bundle = open_bundle(prefix, notes)
    weights = {}
    for node in graph.nodes:
        if node.op not in VARIABLE_OPS or not _selected(node.name, variables, exclude_variables):
            continue
        key = keys.get(node.name) or _shared_name(node) or node.name
        if key not in bundle and node.name in bundle:
            key = node.name
        if key not in bundle and node.name in sliced:
            whole, spec = sliced[node.name]
            if whole not in bundle:
                raise ConversionError(f"the checkpoint has no tensor {whole!r} for this partition of a partitioned "
                                      "variable", path=prefix, node=node.name)
            weights[node.name] = _slice(bundle, whole, spec, node.name)
            continue
        if key not in bundle:
            raise ConversionError(f"the checkpoint has no tensor {key!r} for this variable", path=prefix, node=node.name)
        weights[node.name] = weight(bundle, key)
    graph_edit.splice_weights(graph, weights)
    graph = graph_edit.prune(graph, roots)
    graph_edit.check_frozen(graph, weights, partitions={v: k for v, (k, _) in sliced.items()})
    left = [n.name for n in graph.nodes if n.op in VARIABLE_OPS]
    if left:
        notes.append(f"kept as variables (not frozen): {', '.join(left)}")
    if initializer_nodes:
        notes.append(f"run these nodes once before inference: {', '.join(initializer_nodes)}")
    if not inputs:
        # A PlaceholderWithDefault is optional: not an input of signatures or parity checks unless named.
        inputs = [n.name for n in graph.nodes if n.op == "Placeholder"]
        optional = [n.name for n in graph.nodes if n.op == "PlaceholderWithDefault"]
        if optional:
            notes.append(f"optional inputs (PlaceholderWithDefault, fed only when named in --inputs): "
                         f"{', '.join(optional)}")
    kept = {n.name for n in graph.nodes}
    return FrozenGraph(graph, {k: v for k, v in weights.items() if k in kept}, inputs=[node_of(i) for i in inputs],
                       outputs=[o if ":" in o else o + ":0" for o in outputs], notes=notes)
