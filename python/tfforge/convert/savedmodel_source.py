"""SavedModel directories -> FrozenGraph, one signature at a time."""

from __future__ import annotations

from tfforge.convert.frozen import FrozenGraph
from tfforge.errors import ConversionError


def load(path: str, tags=None):
    from tfforge.convert._tf import load_tfforge_ops, tf
    load_tfforge_ops()
    try:
        return tf().saved_model.load(path, tags=list(tags) if tags else None)
    except Exception as exc:
        raise ConversionError(f"cannot load SavedModel: {exc}", path=path) from None


def signature(loaded, name: str, path: str):
    signatures = getattr(loaded, "signatures", {})
    if name not in signatures:
        raise ConversionError(f"no signature {name!r}; it has: {', '.join(sorted(signatures)) or 'none'}", path=path)
    return signatures[name]


def signature_names(func):
    """(input keys, output keys) in the order of func.inputs / func.outputs (flattened, keys sorted)."""
    from tfforge.convert._tf import tf
    args, kwargs = func.structured_input_signature
    inputs = [spec.name for spec in tf().nest.flatten((args, kwargs))]
    outputs = func.structured_outputs
    out_names = sorted(outputs) if isinstance(outputs, dict) else [f"output_{i}" for i in range(len(func.outputs))]
    return inputs, out_names


def freeze_savedmodel(path: str, signature_name: str = "serving_default", tags=None) -> FrozenGraph:
    from tfforge.convert.function_source import freeze_concrete_function
    loaded = load(path, tags)
    func = signature(loaded, signature_name, path)
    in_names, out_names = signature_names(func)
    return freeze_concrete_function(func, input_names=in_names, output_names=out_names)
