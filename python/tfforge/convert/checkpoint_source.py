"""TF1 checkpoints (a graph from the .meta beside them, or a GraphDef given separately) -> FrozenGraph.

No session and no variables: the graph comes from the MetaGraphDef, each variable's checkpoint key from
the saver's restore ops in that graph (or the variable's name when the graph has no saver, the case
where freeze_graph.py fails on resource variables), and the values from the tensor bundle."""

from __future__ import annotations

import fnmatch
import os

from tfforge.checkpoint import Checkpoint
from tfforge.convert import graph_edit
from tfforge.convert.frozen import FrozenGraph, read_graph_def
from tfforge.errors import ConversionError
from tfforge.formats import checkpoint_prefix
from tfforge.graph.outputs import detect_outputs


def read_meta_graph(path: str):
    """A binary or text MetaGraphDef (told apart by content)."""
    from google.protobuf import text_format
    from tfforge import formats
    from tfforge._tf import tf
    meta = tf().compat.v1.MetaGraphDef()
    with open(path, "rb") as f:
        data = f.read()
    try:
        if formats.is_text(path):
            text_format.Merge(data.decode("utf-8"), meta)
        else:
            meta.ParseFromString(data)
    except Exception as exc:
        raise ConversionError(f"not a MetaGraphDef: {exc}", path=path) from None
    return meta


def load_graph(src: str, graph: str | None = None, meta: str | None = None):
    """(checkpoint prefix, GraphDef, MetaGraphDef or None)."""
    prefix = checkpoint_prefix(src)
    if not os.path.exists(prefix + ".index"):
        raise ConversionError("no checkpoint here (missing .index)", path=prefix)
    if graph:
        return prefix, read_graph_def(graph), None
    meta_path = meta or prefix + ".meta"
    if not os.path.exists(meta_path):
        raise ConversionError("no .meta graph beside the checkpoint; give the graph with --graph GRAPH.pb "
                              "(or --meta)", path=meta_path)
    meta_graph = read_meta_graph(meta_path)
    return prefix, meta_graph.graph_def, meta_graph


def checkpoint_keys(graph_def) -> dict[str, str]:
    """Variable node -> checkpoint key, read from the saver's restore ops: each Assign /
    AssignVariableOp fed (through Identity) by output i of a RestoreV2 node restores key i of that
    node's tensor_names constant."""
    from tfforge._tf import tf
    nodes = {n.name: n for n in graph_def.node}
    keys = {}
    for node in graph_def.node:
        if node.op not in ("Assign", "AssignVariableOp") or len(node.input) < 2:
            continue
        source = node.input[1]
        while nodes.get(graph_edit.node_of(source)) is not None and nodes[graph_edit.node_of(source)].op == "Identity":
            source = nodes[graph_edit.node_of(source)].input[0]
        restore = nodes.get(graph_edit.node_of(source))
        if restore is None or restore.op not in ("RestoreV2", "Restore"):
            continue
        port = int(source.split(":")[1]) if ":" in source else 0
        names = nodes.get(graph_edit.node_of(restore.input[1]))
        if names is None or names.op != "Const":
            continue
        values = tf().make_ndarray(names.attr["value"].tensor).reshape(-1)
        if restore.op == "RestoreV2":
            slices = nodes.get(graph_edit.node_of(restore.input[2]))
            if slices is not None and slices.op == "Const":
                spec = tf().make_ndarray(slices.attr["value"].tensor).reshape(-1)
                if port < len(spec) and spec[port]:
                    continue  # a slice of a partitioned variable: not handled by key
        if port < len(values):
            keys[graph_edit.node_of(node.input[0])] = values[port].decode()
    return keys


def _selected(name: str, include, exclude) -> bool:
    if include and not any(fnmatch.fnmatchcase(name, p) for p in include):
        return False
    return not (exclude and any(fnmatch.fnmatchcase(name, p) for p in exclude))


def freeze_checkpoint(src: str, graph: str | None = None, meta: str | None = None, outputs=None, inputs=None,
                      variables=None, exclude_variables=None, initializer_nodes=None) -> FrozenGraph:
    from tfforge._tf import tf
    prefix, graph_def, meta_graph = load_graph(src, graph, meta)
    notes = []
    if not outputs:
        outputs = detect_outputs(graph_def)
        if not outputs:
            raise ConversionError("found no output nodes; name them with --outputs", path=prefix)
        notes.append(f"detected outputs: {', '.join(outputs)}")
    keys = checkpoint_keys(graph_def)
    roots = list(outputs) + list(initializer_nodes or [])
    if inputs:
        graph_edit.cut_inputs(graph_def, inputs)
    graph_def = graph_edit.inline_functions(graph_edit.prune(graph_def, roots), roots)
    bundle = Checkpoint(prefix)
    weights, frozen = {}, {}
    for node in graph_def.node:
        if node.op not in graph_edit.VARIABLE_OPS or not _selected(node.name, variables, exclude_variables):
            continue
        key = keys.get(node.name) or (node.attr["shared_name"].s.decode() if node.op == "VarHandleOp" and
                                      node.attr["shared_name"].s else node.name)
        if key not in bundle:
            key = node.name if node.name in bundle else key
        if key not in bundle:
            raise ConversionError(f"the checkpoint has no tensor {key!r} for this variable", path=prefix, node=node.name)
        value = bundle.view(key)
        dtype_enum = tf().as_dtype(value.dtype).as_datatype_enum
        graph_edit.constify(node, dtype_enum)
        weights[node.name] = value
        frozen[node.name] = dtype_enum
    graph_edit.rewrite_readers(graph_def, frozen)
    graph_def = graph_edit.prune(graph_def, roots)
    graph_edit.check_frozen(graph_def, set(frozen))
    left = [n.name for n in graph_def.node if n.op in graph_edit.VARIABLE_OPS]
    if left:
        notes.append(f"kept as variables (not frozen): {', '.join(left)}")
    if initializer_nodes:
        notes.append(f"run these nodes once before inference: {', '.join(initializer_nodes)}")
    inputs = inputs or [n.name for n in graph_def.node if n.op in ("Placeholder", "PlaceholderWithDefault")]
    return FrozenGraph(graph_def, weights, inputs=[graph_edit.node_of(i) for i in inputs],
                       outputs=[o if ":" in o else o + ":0" for o in outputs], notes=notes)
