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
    from tfforge._compat.tf import inline_function
    from tfforge._tf import tf
    graph_def = inline_function(func, lower_control_flow)

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
        value = _contiguous(value if value is not None else _read_capture(func, external, name))
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
        dtypes = [t.dtype.as_datatype_enum for t in func.outputs]
        outputs = [f"{n}:0" for n in _rename_outputs(graph_def, outputs, output_names, dtypes)]
    graph_def = graph_edit.prune(graph_def, outputs)
    graph_edit.check_frozen(graph_def, set(frozen))
    kept = {n.name for n in graph_def.node}
    weights = {k: v for k, v in weights.items() if k in kept}
    return FrozenGraph(graph_def, weights, inputs=inputs, outputs=outputs)


def _read_capture(func, external, node_name):
    """The value behind a captured tensor: a variable handle is read through the function's variable that
    owns it, any other capture is a constant already."""
    from tfforge._tf import tf
    if external.dtype != tf().resource:
        return external.numpy()
    for variable in func.variables:
        if variable.handle is external:
            return variable.numpy()
    raise ConversionError("captured resource is not a variable (a lookup table or dataset?); it cannot "
                          "be frozen into a constant", node=node_name)


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


def _rename_outputs(graph_def, tensors: list[str], names: list[str], dtypes: list[int]) -> list[str]:
    """Output tensors of a function graph are Identity nodes' :0; renaming those nodes names the outputs.
    Tensors that are not port 0 of an Identity get an Identity of the wanted name, typed from the
    function's output dtype (`dtypes`): the graph cannot be imported to ask, its frozen Consts have no
    value yet."""
    from tfforge._tf import tf
    nodes = {n.name: n for n in graph_def.node}
    result = []
    plain_old, plain_new = [], []
    for tensor, name, dtype in zip(tensors, names, dtypes):
        base, _, port = tensor.partition(":")
        if port in ("", "0") and nodes.get(base) is not None and nodes[base].op == "Identity":
            plain_old.append(base)
            plain_new.append(name)
            result.append(None)
        else:
            ident = tf().compat.v1.NodeDef(name=_unique(_sanitize(name), nodes), op="Identity", input=[tensor])
            ident.attr["T"].type = dtype
            graph_def.node.append(ident)
            nodes[ident.name] = ident
            result.append(ident.name)
    renamed = iter(_rename(graph_def, plain_old, plain_new))
    return [r if r is not None else next(renamed) for r in result]


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
