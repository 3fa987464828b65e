"""Freezes a TensorFlow 2 concrete function whose graph captures variables (a loaded SavedModel's
signature, a traced Keras model): functions inlined by Grappler (TensorFlow's semantics), then, on the
native graph, each captured variable handle becomes a Const of the variable's value."""

from __future__ import annotations

from tfforge.convert import graph_edit
from tfforge.convert.frozen import FrozenGraph
from tfforge.convert.frozen import contiguous as _contiguous
from tfforge.graph.graph import Graph
from tfforge.errors import ConversionError


def freeze_concrete_function(func, input_names=None, output_names=None, lower_control_flow=True,
                             values=None) -> FrozenGraph:
    """`input_names` / `output_names`: names for the placeholders / outputs of the frozen graph, in the
    order of func.inputs (user inputs only) and func.outputs; None keeps TensorFlow's. `values`:
    optional callable(captured tensor) -> array or None, giving a variable's value without reading the
    variable (e.g. a view of its checkpoint)."""
    from tensorflow.python.framework import convert_to_constants
    graph_def = convert_to_constants._run_inline_graph_optimization(  # noqa: SLF001 (TF's own first step)
        func, lower_control_flow, aggressive_inlining=True)
    graph = Graph.from_bytes(graph_def.SerializeToString())

    captured = {}
    for external, internal in func.graph.captures:
        captured[internal.op.name] = external
    weights = {}
    for name, external in captured.items():
        if name not in graph:  # pruned away by Grappler: unused capture
            continue
        value = values(external) if values is not None else None
        weights[name] = _contiguous(value if value is not None else _read_capture(external, name))
    graph_edit.splice_weights(graph, weights)

    inputs = [t.op.name for t in func.inputs if t.op.name not in captured]
    outputs = [t.name for t in func.outputs]
    if input_names:
        inputs = graph_edit.rename(graph, inputs, input_names)
    if output_names:
        dtypes = [t.dtype.as_datatype_enum for t in func.outputs]
        outputs = [f"{n}:0" for n in graph_edit.name_outputs(graph, outputs, output_names, dtypes)]
    graph = graph_edit.prune(graph, outputs)
    graph_edit.check_frozen(graph, weights)
    kept = {n.name for n in graph.nodes}
    return FrozenGraph(graph, {k: v for k, v in weights.items() if k in kept}, inputs=inputs, outputs=outputs)


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
