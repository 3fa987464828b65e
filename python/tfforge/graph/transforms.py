"""Running transform_graph-style pass lists: native passes in tfforge._native, every other name
through TensorFlow's own transform library (the wheel's private binding), in one ordered run.

Any native pass also runs through TensorFlow's library when given engine=tensorflow (a tfforge argument,
removed before TensorFlow sees the pass): TensorFlow's exact behaviour where tfforge's native pass
deliberately differs (docs/graph.md lists the differences)."""

from __future__ import annotations

from tfforge import _native
from tfforge.errors import TensorFlowNotInstalled, TransformError

# The transforms the TensorFlow 2.21 wheel's transform library registers (tensorflow/tools/graph_transforms;
# docs/graph.md has the table of which of them tfforge runs natively).
TENSORFLOW_TRANSFORMS = frozenset("""
add_default_attributes backport_concatv2 backport_tensor_array_v3 flatten_atrous_conv fold_batch_norms
fold_constants fold_old_batch_norms freeze_requantization_ranges fuse_pad_and_conv fuse_resize_and_conv
fuse_resize_pad_and_conv inline_partitionedcall insert_logging merge_duplicate_nodes obfuscate_names
quantize_nodes quantize_weights remove_attribute remove_control_dependencies remove_device remove_nodes
rename_attribute rename_node rename_op round_weights set_device sort_by_execution_order sparsify_gather
strip_unused_nodes
""".split())


def native_passes() -> list[str]:
    return list(_native.native_passes())


def parse(transforms) -> list[tuple[str, list[tuple[str, str]]]]:
    """transform_graph syntax (a string, or a list of strings) -> [(name, [(key, value)])]."""
    text = transforms if isinstance(transforms, str) else " ".join(transforms)
    return [(name, list(args)) for name, args in _native.parse_transforms(text)]


def format_spec(name: str, args) -> str:
    if not args:
        return name
    return name + "(" + ", ".join(f'{k}="{v}"' for k, v in args) + ")"


def _engine(name: str, args) -> str:
    engines = [v for k, v in args if k == "engine"]
    if not engines:
        return "native"
    if len(engines) > 1 or engines[0] not in ("native", "tensorflow"):
        raise TransformError(f"{name}: engine= takes one of native, tensorflow (found {', '.join(engines)})")
    return engines[0]


def apply_transforms(native_graph, transforms, inputs: list[str], outputs: list[str]):
    """Applies the passes in order; consecutive native passes run in one native call."""
    specs = parse(transforms)
    if not specs:
        raise TransformError("no transforms given")
    native = set(native_passes())
    runs_native = [_engine(name, args) == "native" and name in native for name, args in specs]
    specs = [(name, [(k, v) for k, v in args if k != "engine"]) for name, args in specs]
    graph = native_graph
    i = 0
    while i < len(specs):
        is_native = runs_native[i]
        j = i
        while j < len(specs) and runs_native[j] == is_native:
            j += 1
        text = " ".join(format_spec(n, a) for n, a in specs[i:j])
        if is_native:
            graph = graph.apply(text, inputs, outputs)
        else:
            graph = _run_tensorflow(graph, text, inputs, outputs, [n for n, _ in specs[i:j]])
        i = j
    return graph


def _run_tensorflow(graph, text: str, inputs, outputs, names):
    unknown = [n for n in names if n not in TENSORFLOW_TRANSFORMS]
    try:
        from tfforge._compat.tf import transform_graph
        feature = transform_graph()
    except ImportError:
        feature = None
    if not feature:
        if unknown:
            raise TransformError(f"unknown transform {unknown[0]!r}: tfforge's native passes are "
                                 + ", ".join(native_passes())) from None
        if feature is not None:
            raise TransformError(f"transform {names[0]!r} is not native to tfforge; it runs through TensorFlow's "
                                 f"transform library, which this TensorFlow lacks ({feature.reason})")
        raise TensorFlowNotInstalled(
            f"transform {names[0]!r} is not native to tfforge; it runs through TensorFlow's transform library, "
            "which needs TensorFlow installed (pip install tensorflow-cpu)") from None
    try:
        out = feature.value(
            graph.to_bytes(), ",".join(inputs).encode(), ",".join(outputs).encode(), text.encode())
    except Exception as exc:  # TensorFlow reports failures as RuntimeError/ValueError with its status text
        raise TransformError(f"TensorFlow's transform_graph failed on '{text}': {exc}") from None
    return _native.graph_from_buffer(out, graph.path())
