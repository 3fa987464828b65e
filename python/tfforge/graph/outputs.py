"""The one output heuristic and the one table of variable ops, shared by `tfforge inspect`, `freeze` and
`convert`, so they name the same outputs for a model.

An output is a node nothing consumes (by data or control edge) that is not bookkeeping: not a constant,
input, variable, initializer, saver/restore op, summary, assert or no-op, and not in the scopes TF1
training adds (gradients/, save/, the optimizer's update ops, global_step, init). A training graph's loss
is not an output, nor are the loss's internals (nodes in the loss's name scope, shape queries on what the
loss reads); the user-named tensors the loss is computed from (the logits it takes) are, unless they
already feed an output found the ordinary way.

Works on anything with nodes that have .name, .op and .inputs (a tfforge Graph) or .input (a TensorFlow
GraphDef proto): no TensorFlow needed.
"""

from __future__ import annotations

import re

# Ops that hold a variable: the table freeze resolves and inspect lists.
VARIABLE_OPS = frozenset({"VariableV2", "Variable", "VarHandleOp", "AutoReloadVariable"})

# Ops that end a graph without being a model output.
NOT_OUTPUT_OPS = frozenset({
    "Const", "HostConst", "NoOp", "Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "_Arg", "Assert",
    "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
    "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints",
    "ShardedFilename", "ShardedFilespec", "StringJoin", "ScalarSummary", "HistogramSummary", "ImageSummary",
    "AudioSummary", "AudioSummaryV2", "MergeSummary", "TensorSummary", "TensorSummaryV2", "WriteScalarSummary",
    "WriteSummary", "WriteHistogramSummary", "IsVariableInitialized", "VarIsInitializedOp", "ReadVariableOp",
    "InitializeTable", "InitializeTableV2", "InitializeTableFromTextFile", "InitializeTableFromTextFileV2",
    "Print", "PrintV2", "ControlTrigger", "Exit", "RefExit",
}) | VARIABLE_OPS

_UPDATE_OP_PREFIXES = ("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply", "Assign", "Scatter",
                       "ResourceScatter")
# Ops that take a variable itself (to write, save, restore or test it), not its value: a frozen
# variable cannot feed them.
_VARIABLE_USERS = frozenset({"SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice",
                             "MergeV2Checkpoints", "IsVariableInitialized", "VarIsInitializedOp",
                             "InitializeTableV2", "InitializeTableFromTextFileV2"}) | VARIABLE_OPS
# Scopes TF1 training, saving and initialization create (at the top level or under a name scope).
_TRAINING_SCOPE = re.compile(
    r"(?:^|/)(?:gradients(?:_\d+)?|save(?:_\d+)?|train|report_uninitialized_variables|global_step)(?:/|$)"
    r"|^init(?:_\d+)?(?:/|$)|^(?:Adam|Adagrad|AdagradDA|Adadelta|Ftrl|GradientDescent|Momentum|RMSProp|"
    r"ProximalAdagrad|ProximalGradientDescent|SGD)(?:_\d+)?/|(?:^|/)beta[12]_power(?:/|$)")
# The tensor a TF1 gradient computation starts from: gradients/Shape = Shape(loss), or the first grad
# op gradients/<loss>_grad/... fed by gradients/grad_ys_N.
_GRADIENT_SHAPE = re.compile(r"^(?:.*/)?gradients(?:_\d+)?/Shape$")
_GRAD_START = re.compile(r"^(?:.*/)?gradients(?:_\d+)?/(.+)_grad/")
_GRAD_YS = re.compile(r"gradients(?:_\d+)?/grad_ys_\d+$")
_SHAPE_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank"})
_AUTO_NAME = re.compile(r"^(?:.*/)?[A-Z][A-Za-z0-9]*(?:_\d+)?$")  # TensorFlow's default op-type names


def node_of(tensor: str) -> str:
    """'^a' / 'a:1' / 'a' -> 'a'."""
    return tensor.lstrip("^").split(":")[0]


def needs_variable(op: str) -> bool:
    """Whether an op takes a variable itself (assignments, optimizer updates, resource ops, saver ops,
    initialization checks) rather than reading its value."""
    return op in _VARIABLE_USERS or op.startswith(_UPDATE_OP_PREFIXES + ("Resource",))


def is_training(name: str, op: str) -> bool:
    """Whether a node is training, saving or initialization machinery rather than inference."""
    return op in NOT_OUTPUT_OPS or op.startswith(_UPDATE_OP_PREFIXES) or bool(_TRAINING_SCOPE.search(name))


def _nodes(graph) -> list[tuple[str, str, list[str]]]:
    nodes = graph.nodes if hasattr(graph, "nodes") else graph.node if hasattr(graph, "node") else graph
    out = []
    for n in nodes:
        inputs = n.inputs if hasattr(n, "inputs") else n.input
        out.append((n.name, n.op, list(inputs)))
    return out


def detect_outputs(graph) -> list[str]:
    """Likely output node names, in graph order."""
    nodes = _nodes(graph)
    by_name = {name: (op, inputs) for name, op, inputs in nodes}
    consumed = {node_of(i) for _, _, inputs in nodes for i in inputs}
    found = []
    for name, op, inputs in nodes:
        if name in consumed or is_training(name, op) or name.endswith("/Read/ReadVariableOp") or \
                name == "saver_filename" or _unused_control_flow_value(op, inputs, by_name):
            continue
        found.append(name)
    losses = _losses(nodes)
    if losses:
        loss_inputs = _ancestors(losses, by_name)
        scopes = tuple({loss + "/" for loss in losses} | {loss.split("/")[0] + "/" for loss in losses if "/" in loss})
        found = [name for name in found if not name.startswith(scopes) and not (
            by_name[name][0] in _SHAPE_OPS and all(node_of(i) in loss_inputs for i in by_name[name][1]))]
        feeding = _ancestors(found, by_name)
        for loss in losses:
            for source in _named_sources(loss, by_name):
                if source not in feeding and source not in found:
                    found.append(source)
    return found


def _unused_control_flow_value(op, inputs, by_name) -> bool:
    """An Identity reading a functional If/While/Case: an unused loop-carried value or branch output."""
    if op != "Identity" or not inputs:
        return False
    src = by_name.get(node_of(inputs[0]))
    return src is not None and src[0] in ("While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase")


def _losses(nodes) -> list[str]:
    losses = []
    for name, op, inputs in nodes:
        loss = None
        if op == "Shape" and _GRADIENT_SHAPE.match(name) and inputs:
            loss = node_of(inputs[0])
        else:
            m = _GRAD_START.match(name)
            if m and any(_GRAD_YS.search(node_of(i)) for i in inputs):
                loss = m.group(1)
        if loss is not None and loss not in losses:
            losses.append(loss)
    return losses


def _ancestors(names, by_name) -> set[str]:
    seen, stack = set(), list(names)
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        stack.extend(node_of(i) for i in by_name[name][1])
    return seen


def _named_sources(loss: str, by_name) -> list[str]:
    """Walks back from the loss through auto-named ops to the first user-named tensors that are not
    inputs (labels), constants or variables."""
    found, stack, seen = [], [loss], set()
    while stack:
        name = stack.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        op, inputs = by_name[name]
        if op in ("Placeholder", "PlaceholderV2", "PlaceholderWithDefault", "Const") or op in VARIABLE_OPS:
            continue
        if op == "Identity" and inputs and by_name.get(node_of(inputs[0]), ("",))[0] in VARIABLE_OPS:
            continue  # a TF1 variable's `read`
        if name != loss and not _AUTO_NAME.match(name) and not is_training(name, op):
            found.append(name)
            continue
        stack.extend(node_of(i) for i in reversed(inputs) if not i.startswith("^"))
    return found
