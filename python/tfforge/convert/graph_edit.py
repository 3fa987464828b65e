"""The freeze steps on a tfforge.graph.Graph, each one native call: pruning to the outputs (and cutting
at inputs), splicing weights into Consts (borrowed, not copied), turning the readers of frozen
variables into plain ops, clearing devices. Output detection and the table of variable ops live in
tfforge.graph.outputs, shared with `tfforge inspect`.

TensorFlow is used for one step only, and only when the graph needs it: inlining functional control
flow and function calls (Grappler), whose semantics tfforge does not reimplement."""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

from tfforge.errors import ConversionError, GraphError
from tfforge.graph import dtypes
from tfforge.graph.graph import Graph
from tfforge.graph.outputs import VARIABLE_OPS, needs_variable, node_of  # noqa: F401 (the one table)

log = logging.getLogger("tfforge.convert")

# Ops that read a frozen value as an ordinary input once the readers are rewritten.
_VALUE_READERS = frozenset({"Identity", "GatherV2", "Shape", "Enter", "Exit", "Switch", "Merge", "NextIteration",
                            "IdentityN"})
# Ops that hand a resource handle on unchanged.
_PASS_THROUGH = frozenset({"Identity", "IdentityN", "Enter", "Switch", "Merge", "NextIteration"})
_FUNCTIONAL = frozenset({"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase", "PartitionedCall",
                         "StatefulPartitionedCall"})


def prune(graph: Graph, outputs: list[str], inputs: list[str] | None = None) -> Graph:
    """The nodes the outputs need (through data and control inputs), in graph order, and the library
    functions they call. Each of `inputs` becomes a Placeholder of its own dtype and declared shape (a
    Placeholder stays as it is) and what fed it is dropped."""
    missing = [o for o in outputs if node_of(o) not in graph]
    if missing:
        raise ConversionError(f"output node(s) not in the graph: {', '.join(missing)}", node=missing[0])
    for name in inputs or []:
        if node_of(name) not in graph:
            raise ConversionError(f"--inputs names {name!r}, which is not a node of the graph", node=name)
    try:
        return graph.apply("strip_unused_nodes(type=auto, shape=auto)", inputs=[node_of(i) for i in inputs or []],
                           outputs=[node_of(o) for o in outputs])
    except GraphError as exc:
        raise ConversionError(exc.message, path=exc.path, node=exc.node) from None


def splice_weights(graph: Graph, weights: dict) -> dict[str, int]:
    """Makes each named node (a variable, or a placeholder standing for one) a Const of its array, the
    bytes borrowed from the array (a view of a mapped file stays a view) or, for a StoredWeight, left in
    its file until the graph is written, then rewrites the frozen
    variables' readers (ReadVariableOp -> Identity, ResourceGather -> GatherV2, Ref* -> plain, ...).
    Returns node -> dtype enum."""
    from tfforge.convert.frozen import StoredWeight
    frozen = {}
    for name, array in weights.items():
        if isinstance(array, StoredWeight):  # streamed from its file when the graph is written
            graph.replace_with_stored_const(name, array.stored, array.dtype, array.shape)
            frozen[name] = dtypes.from_numpy(array.dtype)
            continue
        array = np.asarray(array)
        graph.replace_with_const(name, array if array.flags.c_contiguous else array.copy(order="C"), borrow=True)
        frozen[name] = dtypes.from_numpy(array.dtype)
    graph.rewrite_variable_readers(frozen)
    return frozen


def check_frozen(graph: Graph, frozen, partitions: dict | None = None) -> None:
    """Raises when a kept node still treats a frozen variable as a variable (e.g. an output that
    assigns to it). `partitions`: variable node -> partitioned tensor, named in the message."""
    frozen = set(frozen)
    for node in graph.nodes:
        if node.op == "Const" or node.op in _VALUE_READERS:
            continue
        for inp in node.inputs:
            if inp.startswith("^") or node_of(inp) not in frozen or not needs_variable(node.op):
                continue
            variable = node_of(inp)
            what = f"the variable {variable!r}"
            if partitions and variable in partitions:
                what += f" (a partition of the partitioned variable {partitions[variable]!r})"
            raise ConversionError(f"op {node.op} writes or needs {what}, which was frozen into a constant; leave it "
                                  "out of the outputs or keep the variable with --exclude-variables", node=node.name)


def clear_devices(graph: Graph) -> Graph:
    return graph.apply("remove_device")


def functional_ops_taking_variables(graph: Graph) -> list[str]:
    """The functional ops (While, If, PartitionedCall ...) that take a resource variable's handle as an
    input, directly or through Identity-like ops: their function bodies read the variable, so freezing
    it needs the functions inlined. Functional ops fed only values (a TF1 ref variable's `read`) keep
    working on the frozen Consts as they are."""
    nodes = graph.nodes
    users = defaultdict(list)
    for n in nodes:
        for i in n.inputs:
            if not i.startswith("^"):
                users[node_of(i)].append(n)
    handles = {n.name for n in nodes if n.op == "VarHandleOp"}
    stack = list(handles)
    while stack:
        for user in users.get(stack.pop(), ()):
            if user.name not in handles and user.op in _PASS_THROUGH:
                handles.add(user.name)
                stack.append(user.name)
    return sorted({n.op for n in nodes if n.op in _FUNCTIONAL and
                   any(node_of(i) in handles for i in n.inputs if not i.startswith("^"))})


def fallback(notes: list | None, reason: str) -> None:
    """Says why TensorFlow is imported: one logged line, and a note the CLI prints."""
    log.info("%s", reason)
    if notes is not None:
        notes.append(reason)


def inline_functions(graph: Graph, fetches: list[str], notes: list | None = None, *,
                     every_functional_op: bool = False) -> Graph:
    """Grappler's function inlining and control-flow lowering (While -> Enter/Switch/Merge/Exit), so
    variables that functional ops take as inputs become ordinary graph edges before they are frozen.
    A no-op (and no TensorFlow import) unless a functional op takes a resource variable; with
    every_functional_op (for TFLite, which wants lowered control flow) whenever the graph has one."""
    if every_functional_op:
        found = sorted({n.op for n in graph.nodes if n.op in _FUNCTIONAL})
    else:
        found = functional_ops_taking_variables(graph)
        if found:
            fallback(notes, f"used TensorFlow's Grappler to inline functional ops that take resource variables "
                            f"({', '.join(found)}): tfforge does not rewrite function bodies natively")
    if not found:
        return graph
    from tfforge._compat.tf import grappler_inline
    from tfforge._tf import tf
    graph_def = tf().compat.v1.GraphDef.FromString(graph.to_bytes())  # TensorFlow's logging silenced first
    try:
        optimized = grappler_inline(graph_def, [node_of(f) for f in fetches])
    except ConversionError:
        raise
    except Exception as exc:
        raise ConversionError(f"inlining the graph's functions failed: {exc}") from None
    return Graph.from_bytes(optimized.SerializeToString(), path=graph.path)


def rename(graph: Graph, old: list[str], new: list[str]) -> list[str]:
    """Renames nodes (and every reference to them) to sanitized names; a name already taken keeps the
    old one. Returns the resulting names in the order of `old`."""
    existing = {n.name for n in graph.nodes}
    mapping = {}
    for o, n in zip(old, new):
        n = sanitize(n)
        if n != o and n not in existing:
            mapping[o] = n
            existing.add(n)
    if mapping:
        graph.rename_nodes(mapping)
    return [mapping.get(o, o) for o in old]


def name_outputs(graph: Graph, tensors: list[str], names: list[str], dtypes_: list[int]) -> list[str]:
    """Names the output tensors: an output that is port 0 of an Identity has that node renamed, any other
    gets an Identity of the wanted name, typed from `dtypes_` (the function's output dtypes). Returns
    output node names."""
    result, plain_old, plain_new = [], [], []
    taken = {n.name for n in graph.nodes}
    for tensor, name, dtype in zip(tensors, names, dtypes_):
        base, _, port = tensor.partition(":")
        if port in ("", "0") and base in graph and graph.node(base).op == "Identity":
            plain_old.append(base)
            plain_new.append(name)
            result.append(None)
        else:
            ident = _unique(sanitize(name), taken)
            graph.add_identity(ident, tensor, dtype)
            taken.add(ident)
            result.append(ident)
    renamed = iter(rename(graph, plain_old, plain_new))
    return [r if r is not None else next(renamed) for r in result]


def _unique(name, taken):
    if name not in taken:
        return name
    i = 1
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"


def sanitize(name: str) -> str:
    import re
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name.split(":")[0])
    return name if re.match(r"[A-Za-z0-9.]", name) else "t" + name
