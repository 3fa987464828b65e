"""decompose_tfforge_ops: rewrites tfforge's custom ops into the built-in TensorFlow ops they fuse,
so a graph that uses them runs on stock TensorFlow and converts to TFLite without custom ops.

Each Tfforge* node is replaced by the graph of its reference composition (tfforge.ops.reference),
traced once per (op, dtype, attrs); an Identity with the original node's name carries the result,
so consumers need no rewiring."""

from __future__ import annotations

from tfforge.errors import ConversionError

# op -> (reference function name, attrs passed as keyword arguments, outputs the composition provides)
_COMPOSITIONS = {
    "TfforgeLayerNorm": ("layer_norm", ("epsilon",), 1),
    "TfforgeRMSNorm": ("rms_norm", ("epsilon",), 1),
    "TfforgeBiasGelu": ("bias_gelu", ("approximate",), 1),
    "TfforgeAttention": ("attention", ("mask_fill", "zero_masked", "scale"), 1),
}
# Inputs of another dtype than the op's T: (op, input index) -> dtype name
_INPUT_DTYPES = {("TfforgeAttention", 3): "bool"}


def _attr_value(attr):
    kind = attr.WhichOneof("value")
    return getattr(attr, kind)


def _composition(op, dtype_enum, attrs, n_inputs):
    from tfforge._tf import tf
    from tfforge.ops import reference
    t = tf()
    fn_name, attr_names, _ = _COMPOSITIONS[op]
    graph = t.Graph()
    with graph.as_default():
        xs = [t.compat.v1.placeholder(t.dtypes.as_dtype(_INPUT_DTYPES.get((op, i), dtype_enum)), name=f"input_{i}")
              for i in range(n_inputs)]
        kwargs = {k: attrs[k] for k in attr_names if k in attrs}
        t.identity(getattr(reference, fn_name)(*xs, **kwargs), name="output")
    return graph.as_graph_def()


def decompose_tfforge_ops(graph_def):
    """Returns a copy of `graph_def` with every TfforgeLayerNorm / TfforgeRMSNorm / TfforgeBiasGelu /
    TfforgeAttention node
    replaced by built-in ops. Raises ConversionError naming the node when a graph needs an output the
    composition does not give (LayerNorm's saved mean / inv_std, used only by its gradient)."""
    from tfforge._tf import tf
    from tfforge.convert.graph_edit import node_of
    out = tf().compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    targets = {n.name: n for n in out.node if n.op in _COMPOSITIONS}
    if not targets:
        return out
    for node in out.node:
        for inp in node.input:
            base, _, port = inp.lstrip("^").partition(":")
            if base in targets and port not in ("", "0") and not inp.startswith("^"):
                raise ConversionError(f"output {port} of {targets[base].op} is used; only its first output can be "
                                      "decomposed into built-in ops", node=node.name)
    kept = [n for n in out.node if n.name not in targets]
    added = []
    cache = {}
    for name, node in targets.items():
        attrs = {k: _attr_value(v) for k, v in node.attr.items() if k != "T"}
        data_inputs = [i for i in node.input if not i.startswith("^")]
        controls = [i for i in node.input if i.startswith("^")]
        key = (node.op, node.attr["T"].type, tuple(sorted(attrs.items())), len(data_inputs))
        if key not in cache:
            cache[key] = _composition(node.op, node.attr["T"].type, attrs, len(data_inputs))
        prefix = f"{name}/decomposed/"
        for sub in cache[key].node:
            if sub.op == "Placeholder":
                continue
            new = tf().compat.v1.NodeDef()
            new.CopyFrom(sub)
            new.name = name if sub.name == "output" else prefix + sub.name
            new.device = node.device
            new.ClearField("input")
            for inp in sub.input:
                ctrl = inp.startswith("^")
                base, _, port = inp.lstrip("^").partition(":")
                if base.startswith("input_"):
                    target = data_inputs[int(base[len("input_"):])]
                    new.input.append(("^" + node_of(target)) if ctrl else target)
                else:
                    new.input.append(("^" if ctrl else "") + prefix + base + (":" + port if port else ""))
            if sub.name == "output":
                new.input.extend(controls)
            added.append(new)
    del out.node[:]
    out.node.extend(kept + added)
    return out


def uses_tfforge_ops(graph_def) -> bool:
    ops = {n.op for n in graph_def.node} | {n.op for f in graph_def.library.function for n in f.node_def}
    return any(op.startswith("Tfforge") for op in ops)
