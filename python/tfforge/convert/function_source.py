"""Freezes a TensorFlow 2 concrete function whose graph captures variables (a loaded SavedModel's
signature, a traced Keras model): functions inlined by Grappler, then each captured variable handle
becomes a Const filled from the variable's current value."""

from __future__ import annotations

from tfforge.convert import graph_edit
from tfforge.convert.frozen import FrozenGraph
from tfforge.convert.frozen import contiguous as _contiguous
from tfforge.errors import ConversionError


def freeze_concrete_function(func, input_names=None, output_names=None, lower_control_flow=True,
                             values=None) -> FrozenGraph:
    """`input_names` / `output_names`: names for the placeholders / outputs of the frozen graph, in the
    order of func.inputs (user inputs only) and func.outputs; None keeps TensorFlow's. `values`:
    optional callable(captured tensor) -> array or None, giving a variable's value without reading the
    variable (e.g. a view of its checkpoint)."""
    from tensorflow.python.framework import convert_to_constants
    from tfforge._tf import tf
    graph_def = convert_to_constants._run_inline_graph_optimization(  # noqa: SLF001 (TF's own first step)
        func, lower_control_flow, aggressive_inlining=True)

    captured = {}
    for external, internal in func.graph.captures:
        captured[internal.op.name] = external
    nodes = {n.name: n for n in graph_def.node}
    weights, frozen = {}, {}
    for name, external in captured.items():
        node = nodes.get(name)
        if node is None:  # pruned away by Grappler: unused capture
            continue
        value = values(external) if values is not None else None
        value = _contiguous(value if value is not None else _read_capture(external, name))
        dtype_enum = tf().as_dtype(value.dtype).as_datatype_enum
        graph_edit.constify(node, dtype_enum)
        weights[name] = value
        frozen[name] = dtype_enum
    graph_edit.rewrite_readers(graph_def, frozen)

    user_inputs = [t for t in func.inputs if t.op.name not in captured]
    inputs = [t.op.name for t in user_inputs]
    outputs = [t.name for t in func.outputs]
    if input_names:
        inputs = _rename(graph_def, inputs, input_names)
    if output_names:
        outputs = [f"{n}:0" for n in _rename_outputs(graph_def, outputs, output_names)]
    graph_def = graph_edit.prune(graph_def, outputs)
    graph_edit.check_frozen(graph_def, set(frozen))
    kept = {n.name for n in graph_def.node}
    weights = {k: v for k, v in weights.items() if k in kept}
    return FrozenGraph(graph_def, weights, inputs=inputs, outputs=outputs)


def _read_capture(external, node_name):
    """The value behind a captured tensor: a variable handle is read (its dtype comes from the
    handle's metadata), any other capture is a constant already."""
    from tensorflow.python.ops import resource_variable_ops
    from tfforge._tf import tf
    if external.dtype != tf().resource:
        return external.numpy()
    data = resource_variable_ops.get_eager_safe_handle_data(external)
    try:
        dtype = tf().as_dtype(data.shape_and_type[0].dtype)
        return tf().raw_ops.ReadVariableOp(resource=external, dtype=dtype).numpy()
    except Exception:
        raise ConversionError("captured resource is not a variable (a lookup table or dataset?); it cannot "
                              "be frozen into a constant", node=node_name) from None


def _rename(graph_def, old: list[str], new: list[str]) -> list[str]:
    """Renames nodes (and every reference to them); a name already taken keeps the old one."""
    existing = {n.name for n in graph_def.node}
    mapping = {}
    for o, n in zip(old, new):
        n = _sanitize(n)
        if n != o and n not in existing:
            mapping[o] = n
            existing.add(n)
    if not mapping:
        return list(old)
    for node in graph_def.node:
        if node.name in mapping:
            node.name = mapping[node.name]
        for i, inp in enumerate(node.input):
            ctrl = inp.startswith("^")
            base, _, port = inp.lstrip("^").partition(":")
            if base in mapping:
                node.input[i] = ("^" if ctrl else "") + mapping[base] + (":" + port if port else "")
    return [mapping.get(o, o) for o in old]


def _rename_outputs(graph_def, tensors: list[str], names: list[str]) -> list[str]:
    """Output tensors of a function graph are Identity nodes' :0; renaming those nodes names the outputs.
    Tensors that are not port 0 of a node get an Identity of the wanted name."""
    from tfforge._tf import tf
    nodes = {n.name: n for n in graph_def.node}
    result = []
    plain_old, plain_new = [], []
    for tensor, name in zip(tensors, names):
        base, _, port = tensor.partition(":")
        if port in ("", "0") and nodes.get(base) is not None and nodes[base].op == "Identity":
            plain_old.append(base)
            plain_new.append(name)
            result.append(None)
        else:
            ident = tf().compat.v1.NodeDef(name=_unique(_sanitize(name), nodes), op="Identity", input=[tensor])
            ident.attr["T"].type = _tensor_dtype(graph_def, tensor)
            graph_def.node.append(ident)
            nodes[ident.name] = ident
            result.append(ident.name)
    renamed = iter(_rename(graph_def, plain_old, plain_new))
    return [r if r is not None else next(renamed) for r in result]


def _tensor_dtype(graph_def, tensor):
    from tfforge._tf import tf
    graph = tf().Graph()
    with graph.as_default():
        tf().compat.v1.import_graph_def(graph_def, name="")
    return graph.get_tensor_by_name(tensor if ":" in tensor else tensor + ":0").dtype.as_datatype_enum


def _unique(name, taken):
    if name not in taken:
        return name
    i = 1
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"


def _sanitize(name: str) -> str:
    import re
    name = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name.split(":")[0])
    return name if re.match(r"[A-Za-z0-9.]", name) else "t" + name
