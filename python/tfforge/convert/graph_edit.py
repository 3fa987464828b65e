"""Edits of weightless GraphDefs (protos of a few KB to MB): variables become Consts, the ops that read
them become their plain forms, pruning to the outputs, device clearing. Output detection and the table
of variable ops live in tfforge.graph.outputs, shared with `tfforge inspect`.

Weight bytes never pass through here; they are spliced in natively when the graph is written
(see frozen.py)."""

from __future__ import annotations

from collections import defaultdict, deque

from tfforge.errors import ConversionError
from tfforge.graph.outputs import VARIABLE_OPS, node_of  # noqa: F401 (the convert package's table)

RESOURCE = 20  # DT_RESOURCE

# Ops that pass a variable (ref or resource handle) through unchanged; after freezing they carry the
# value instead, so their T attr becomes the variable's dtype and their Ref form the plain one.
_PASS_THROUGH = {"Identity", "Enter", "Exit", "Switch", "Merge", "NextIteration", "IdentityN"}
_REF_TO_PLAIN = {"RefEnter": "Enter", "RefExit": "Exit", "RefSwitch": "Switch", "RefMerge": "Merge",
                 "RefNextIteration": "NextIteration", "RefIdentity": "Identity", "RefSelect": "Select"}

# Never part of an inference graph: ops that write or save variables.
_TRAINING_OPS = {
    "NoOp", "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp",
    "AssignSubVariableOp", "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice",
    "MergeV2Checkpoints", "ShardedFilename", "StringJoin", "ScalarSummary", "HistogramSummary",
    "ImageSummary", "AudioSummary", "MergeSummary", "TensorSummary", "TensorSummaryV2", "WriteScalarSummary",
    "IsVariableInitialized", "VarIsInitializedOp", "Const", "Placeholder", "PlaceholderWithDefault",
    "VariableV2", "Variable", "VarHandleOp", "InitializeTableV2", "InitializeTableFromTextFileV2",
}

def consumers(graph_def):
    out = defaultdict(list)
    for node in graph_def.node:
        for i, inp in enumerate(node.input):
            out[node_of(inp)].append((node, i, inp.startswith("^")))
    return out


def constify(node, dtype_enum: int) -> None:
    """Turns `node` into a Const of dtype `dtype_enum` whose `value` attr is added when written."""
    device = node.device
    node.ClearField("input")
    node.ClearField("attr")
    node.op = "Const"
    node.device = device
    node.attr["dtype"].type = dtype_enum


def rewrite_readers(graph_def, frozen: dict[str, int]) -> None:
    """After `frozen` (node name -> dtype enum) became Consts, makes their readers read values:
    ReadVariableOp -> Identity, ResourceGather -> GatherV2, VariableShape -> Shape, Ref* -> plain,
    and pass-through ops (Identity, Enter, Switch, ...) carry the dtype instead of DT_RESOURCE."""
    users = consumers(graph_def)
    queue = deque(frozen.items())
    seen = set(frozen)
    added = []
    while queue:
        name, dtype = queue.popleft()
        for node, index, control in users.get(name, ()):
            if control or node.name in seen:
                continue
            op = node.op
            if op == "ReadVariableOp":
                node.op = "Identity"
                del node.attr["dtype"]
                node.attr["T"].type = dtype
            elif op == "ResourceGather":
                _gather(node, dtype, added)
            elif op == "VariableShape":
                node.op = "Shape"
                node.attr["T"].type = dtype
            elif op in _REF_TO_PLAIN or op in _PASS_THROUGH:
                node.op = _REF_TO_PLAIN.get(op, op)
                if op == "IdentityN":
                    node.attr["T"].list.type[index] = dtype
                    continue  # other outputs of IdentityN are not the variable
                if node.attr["T"].type == RESOURCE:
                    node.attr["T"].type = dtype
                seen.add(node.name)
                queue.append((node.name, dtype))
            # Anything else (Assign*, saver ops) is training-only: pruning drops it, check_frozen
            # reports it if an output still depends on it.
    graph_def.node.extend(added)


def _gather(node, dtype, added):
    from tfforge._tf import tf
    node.op = "GatherV2"
    batch_dims = node.attr["batch_dims"].i if "batch_dims" in node.attr else 0
    tindices = node.attr["Tindices"].type
    for key in list(node.attr):
        if key not in ("_class",):
            del node.attr[key]
    node.attr["Tparams"].type = dtype
    node.attr["Tindices"].type = tindices
    node.attr["Taxis"].type = 3  # DT_INT32
    node.attr["batch_dims"].i = batch_dims
    axis = tf().compat.v1.NodeDef(name=node.name + "/frozen_axis", op="Const", device=node.device)
    axis.attr["dtype"].type = 3
    axis.attr["value"].tensor.CopyFrom(tf().make_tensor_proto(0, dtype=tf().int32))
    added.append(axis)
    data_inputs = [i for i in node.input if not i.startswith("^")]
    controls = [i for i in node.input if i.startswith("^")]
    node.ClearField("input")
    node.input.extend(data_inputs[:2] + [axis.name] + controls)


def cut_inputs(graph_def, inputs: list[str]) -> None:
    """Makes each named node a Placeholder (as strip_unused does), so pruning drops what fed it."""
    by_name = {n.name: n for n in graph_def.node}
    for name in inputs:
        node = by_name.get(node_of(name))
        if node is None:
            raise ConversionError(f"--inputs names {name!r}, which is not a node of the graph", node=name)
        if node.op in ("Placeholder", "PlaceholderWithDefault"):
            if node.op == "PlaceholderWithDefault":
                _to_placeholder(node, node.attr["dtype"].type, node.attr["shape"].shape)
            continue
        dtype = node.attr["dtype"].type if "dtype" in node.attr else node.attr["T"].type if "T" in node.attr else 0
        if not dtype:
            raise ConversionError("cannot make this node an input: it has no dtype or T attr", node=name)
        shape = node.attr["_output_shapes"].list.shape[0] if "_output_shapes" in node.attr and \
            node.attr["_output_shapes"].list.shape else None
        _to_placeholder(node, dtype, shape)


def _to_placeholder(node, dtype, shape):
    """`shape`: a TensorShapeProto or None (unknown)."""
    shape_copy = None
    if shape is not None:
        shape_copy = type(shape)()
        shape_copy.CopyFrom(shape)
    node.op = "Placeholder"
    node.ClearField("input")
    node.ClearField("attr")
    node.attr["dtype"].type = dtype
    if shape_copy is not None:
        node.attr["shape"].shape.CopyFrom(shape_copy)


def prune(graph_def, outputs: list[str]):
    from tfforge._tf import tf
    names = {n.name for n in graph_def.node}
    missing = [o for o in outputs if node_of(o) not in names]
    if missing:
        raise ConversionError(f"output node(s) not in the graph: {', '.join(missing)}", node=missing[0])
    return tf().compat.v1.graph_util.extract_sub_graph(graph_def, [node_of(o) for o in outputs])


def clear_devices(graph_def) -> None:
    for node in graph_def.node:
        node.device = ""
    for fn in graph_def.library.function:
        for node in fn.node_def:
            node.device = ""


def check_frozen(graph_def, frozen: set[str]) -> None:
    """Raises when a kept node still treats a frozen variable as a variable (e.g. an output that
    assigns to it)."""
    for node in graph_def.node:
        if node.op in ("Const",):
            continue
        for inp in node.input:
            if not inp.startswith("^") and node_of(inp) in frozen and node.op not in \
                    ("Identity", "GatherV2", "Shape", "Enter", "Exit", "Switch", "Merge", "NextIteration",
                     "IdentityN") and not _reads_value(node):
                raise ConversionError(f"op {node.op} writes or needs the variable {node_of(inp)!r}, which was "
                                      "frozen into a constant; leave it out of the outputs or keep the variable "
                                      "with --exclude-variables", node=node.name)


def _reads_value(node) -> bool:
    # Any op not in the training set that takes a frozen tensor as plain input is an ordinary reader.
    return node.op not in _TRAINING_OPS and not node.op.startswith(("Assign", "Resource", "Scatter", "Apply",
                                                                    "SparseApply"))


_FUNCTIONAL = {"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase", "PartitionedCall",
               "StatefulPartitionedCall"}


def inline_functions(graph_def, fetches: list[str]):
    """Grappler's function inlining and control-flow lowering (While -> Enter/Switch/Merge/Exit), so
    variables that functional ops take as inputs become ordinary graph edges before they are frozen.
    A no-op for graphs without functional ops."""
    if not any(n.op in _FUNCTIONAL for n in graph_def.node):
        return graph_def
    from tensorflow.core.protobuf import config_pb2, meta_graph_pb2, rewriter_config_pb2
    from tensorflow.python.grappler import tf_optimizer
    meta = meta_graph_pb2.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    for function in meta.graph_def.library.function:
        function.attr.pop("api_implements", None)
    meta.collection_def["train_op"].node_list.value.extend(node_of(f) for f in fetches)
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.min_graph_nodes = -1
    rewrite.optimizers.append("function")
    rewrite.function_optimization = rewriter_config_pb2.RewriterConfig.AGGRESSIVE
    try:
        return tf_optimizer.OptimizeGraph(config, meta)
    except Exception as exc:
        raise ConversionError(f"inlining the graph's functions failed: {exc}") from None
