"""TFLite export from a SavedModel, Keras file, frozen graph or checkpoint, with quantization."""

from __future__ import annotations

import os
import tempfile

from tfforge import formats
from tfforge._io import write_bytes
from tfforge._tf import native_stderr_quiet
from tfforge.errors import ConversionError

QUANTIZE = ("none", "dynamic", "float16", "int8")


def _converter_for(src, kind, frozen_loader, signature, tags, safe_mode, decompose, tmp):
    """(TFLiteConverter, input TensorInfos, tfforge ops kept in the graph). Models that use tfforge's
    custom ops go through their frozen graph, where the ops are rewritten (or, with decompose=False,
    listed)."""
    from tfforge._tf import tf
    from tfforge.convert.decompose import uses_tfforge_ops
    from tfforge.convert.runners import GraphRunner, KerasRunner, SavedModelRunner
    t = tf()
    if kind == formats.KERAS or kind == formats.KERAS_H5:
        runner = KerasRunner(src, safe_mode)
        if not _uses_tfforge_ops_keras(runner.model):
            export_dir = os.path.join(tmp, "saved")
            runner.model.export(export_dir, format="tf_saved_model", verbose=False)
            return t.lite.TFLiteConverter.from_saved_model(export_dir), runner.inputs, []
    elif kind == formats.SAVEDMODEL:
        runner = SavedModelRunner(src, signature, tags)
        if not uses_tfforge_ops(runner._fn.graph.as_graph_def()):  # noqa: SLF001
            return t.lite.TFLiteConverter.from_saved_model(src, signature_keys=[signature],
                                                           tags=set(tags) if tags else None), runner.inputs, []
    frozen = frozen_loader()
    from tfforge.convert import graph_edit
    lowered = graph_edit.inline_functions(frozen.graph, frozen.outputs, every_functional_op=True)
    if lowered is not frozen.graph:  # lowered loops drop what only training needed (gradient accumulators)
        frozen.graph = graph_edit.prune(lowered, frozen.outputs, frozen.inputs)
    graph_def = frozen.to_graph_def()
    kept = []
    if decompose:
        from tfforge.convert.decompose import decompose_tfforge_ops
        graph_def = decompose_tfforge_ops(graph_def)
    else:
        kept = sorted({n.op for n in graph_def.node if n.op.startswith("Tfforge")} |
                      {n.op for f in graph_def.library.function for n in f.node_def if n.op.startswith("Tfforge")})
    runner = GraphRunner(graph_def, frozen.inputs, frozen.outputs)
    # Through a variable-free SavedModel, so the .tflite gets a serving_default signature with the
    # graph's input and output names.
    from tfforge.convert.conversions import frozen_to_savedmodel
    export_dir = os.path.join(tmp, "frozen_saved")
    frozen_to_savedmodel(graph_def, export_dir, frozen.inputs, frozen.outputs)
    return t.lite.TFLiteConverter.from_saved_model(export_dir), runner.inputs, kept


def _uses_tfforge_ops_keras(model) -> bool:
    return any(type(layer).__module__.startswith("tfforge") for layer in getattr(model, "_flatten_layers", lambda: [])())


def check_options(quantize, representative) -> None:
    if quantize not in QUANTIZE:
        raise ConversionError(f"--quantize must be one of {', '.join(QUANTIZE)}, not {quantize!r}")
    if quantize == "int8" and not representative:
        raise ConversionError("int8 quantization needs --representative DATA (.npz, a TFRecord prefix, or random)")
    if representative and quantize != "int8":
        raise ConversionError(f"--representative is calibration data for --quantize int8; it has no use with "
                              f"--quantize {quantize or 'none'}")


def export_tflite(src, dst, *, quantize="none", representative=None, select_tf_ops=False, allow_custom_ops=False,
                  decompose=True, signature="serving_default", tags=None, safe_mode=True, frozen_options=None,
                  notes: list | None = None) -> int:
    """Writes DST (.tflite) atomically; returns its size in bytes. Things the user should know (custom
    ops a runtime must provide) are appended to `notes` when given."""
    import warnings
    from tfforge._tf import tf
    check_options(quantize, representative)
    t = tf()
    src = os.fspath(src)
    kind = formats.CHECKPOINT if (frozen_options or {}).get("graph") else formats.detect(src)

    def frozen_loader():
        from tfforge.convert.api import load_frozen
        return load_frozen(src, signature=signature, tags=tags, safe_mode=safe_mode, **(frozen_options or {}))

    with tempfile.TemporaryDirectory(prefix="tfforge-tflite-") as tmp:
        converter, inputs, kept = _converter_for(src, kind, frozen_loader, signature, tags, safe_mode, decompose, tmp)
        if kept and not allow_custom_ops:
            raise ConversionError(f"--keep-tfforge-ops keeps {', '.join(kept)}, which TFLite has no kernels for; "
                                  "add --allow-custom-ops to write them as custom ops (a runtime must then register "
                                  "kernels under those names), or drop --keep-tfforge-ops to rewrite them into "
                                  "built-in ops", path=src)
        ops = [t.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [t.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [t.float16]
        if quantize == "int8":
            from tfforge.convert.representative import representative_dataset
            converter.representative_dataset = representative_dataset(representative, inputs)
            ops = [t.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = t.int8
            converter.inference_output_type = t.int8
        if select_tf_ops:
            ops.append(t.lite.OpsSet.SELECT_TF_OPS)
            # Keep TensorList ops (RNN loops with a dynamic batch) as Flex ops instead of failing to lower them.
            converter._experimental_lower_tensor_list_ops = False  # noqa: SLF001
        converter.target_spec.supported_ops = ops
        converter.allow_custom_ops = allow_custom_ops
        try:
            with warnings.catch_warnings(), native_stderr_quiet():
                warnings.simplefilter("ignore", DeprecationWarning)
                data = converter.convert()
        except Exception as exc:
            hint = "" if select_tf_ops else " (ops TFLite lacks can run through --select-tf-ops)"
            raise ConversionError(f"TFLite conversion failed: {str(exc).strip().splitlines()[-1]}{hint}", path=src) from None
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    write_bytes(os.fspath(dst), data)
    if kept and notes is not None:
        notes.append(f"the .tflite holds the custom op(s) {', '.join(kept)} (inputs, outputs and attributes as "
                     "tfforge's TensorFlow ops of those names, attributes in the op's flexbuffer options): a runtime "
                     "must register a kernel for each before it can run the model; tfforge ships none for TFLite")
    return len(data)
