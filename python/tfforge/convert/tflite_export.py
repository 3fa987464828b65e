"""TFLite export from a SavedModel, Keras file, frozen graph or checkpoint, with quantization.

Models that use tfforge's ops (or any model given `input_shapes`) go through their frozen graph: the
ops are rewritten into built-in ops (decompose.py), the inputs' unknown dimensions are pinned, so every
shape is static and LiteRT's XNNPack delegate can take the whole graph, and a full-int8 export keeps
the rewritten norms and GELU in float32 between QUANTIZE / DEQUANTIZE (int8 ranges do not fit a
variance or its reciprocal square root, and XNNPack has no int8 RSQRT / GELU)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

from tfforge import formats
from tfforge._io import write_bytes
from tfforge._tf import native_stderr_quiet
from tfforge.errors import ConversionError

QUANTIZE = ("none", "dynamic", "float16", "int8")
DECOMPOSED = "/decomposed/"   # decompose_tfforge_ops names every node it adds NODE/decomposed/...


@dataclass
class _Source:
    converter: object
    inputs: list                  # TensorInfo of the model inputs, pinned shapes applied
    kept: list = field(default_factory=list)   # tfforge ops left in the graph (decompose=False)
    decomposed: bool = False      # tfforge ops were rewritten into built-in ops


def parse_input_shapes(spec) -> dict:
    """{input name or None (the only input): shape tuple} from {name: shape}, one shape, or CLI strings
    NAME=D0,D1,... / D0,D1,... ."""
    if spec is None or spec == {} or spec == []:
        return {}
    if isinstance(spec, dict):
        items = list(spec.items())
    elif isinstance(spec, (list, tuple)) and spec and all(isinstance(s, int) for s in spec):
        items = [(None, spec)]
    else:
        items = []
        for text in [spec] if isinstance(spec, str) else spec:
            name, _, dims = str(text).rpartition("=")
            items.append((name or None, dims))
    shapes = {}
    for name, dims in items:
        try:
            shape = tuple(int(d) for d in (dims.split(",") if isinstance(dims, str) else dims))
        except (TypeError, ValueError):
            shape = ()
        if not shape or any(d < 1 for d in shape):
            raise ConversionError(f"--input-shape wants NAME=D0,D1,... (or D0,D1,... for a model with one input) "
                                  f"with positive dimensions, not {name + '=' if name else ''}{dims}")
        if name in shapes:
            raise ConversionError(f"--input-shape gives input {name or '(the only one)'} twice")
        shapes[name] = shape
    return shapes


def _pin_shapes(graph_def, inputs, shapes, src):
    """Sets the shapes of the input Placeholders; refuses names, ranks or dimensions that do not fit."""
    from tfforge._tf import tf
    by_name = {n.split(":")[0]: n for n in inputs}
    if None in shapes:
        if len(by_name) != 1:
            raise ConversionError(f"the model has inputs {', '.join(by_name)}: give --input-shape NAME=D0,D1,... "
                                  "for each", path=src)
        shapes = {next(iter(by_name)): shapes[None]}
    unknown = [n for n in shapes if n not in by_name]
    if unknown:
        raise ConversionError(f"--input-shape names {', '.join(unknown)}, but the inputs are "
                              f"{', '.join(by_name)}", path=src)
    for node in graph_def.node:
        if node.name in shapes and node.op == "Placeholder":
            want = shapes[node.name]
            have = tf().TensorShape(node.attr["shape"].shape) if "shape" in node.attr else tf().TensorShape(None)
            if have.rank is not None and (have.rank != len(want) or any(
                    h is not None and h != w for h, w in zip(have.as_list(), want))):
                dims = ", ".join("?" if d is None else str(d) for d in have.as_list())
                raise ConversionError(f"--input-shape {node.name}={','.join(map(str, want))} does not fit the "
                                      f"input's shape ({dims})", path=src)
            node.attr["shape"].shape.CopyFrom(tf().TensorShape(want).as_proto())
    return graph_def


def _converter_for(src, kind, frozen_loader, signature, tags, safe_mode, decompose, input_shapes, tmp) -> _Source:
    """The TFLiteConverter and the model's inputs. Models that use tfforge's custom ops, or whose input
    shapes are pinned, go through their frozen graph, where the ops are rewritten (or, with
    decompose=False, listed) and the Placeholders get their shapes."""
    from tfforge._tf import tf
    from tfforge.convert.decompose import uses_tfforge_ops
    from tfforge.convert.runners import GraphRunner, KerasRunner, SavedModelRunner
    t = tf()
    if kind == formats.KERAS or kind == formats.KERAS_H5:
        runner = KerasRunner(src, safe_mode)
        if not input_shapes and not _uses_tfforge_ops_keras(runner.model):
            export_dir = os.path.join(tmp, "saved")
            runner.model.export(export_dir, format="tf_saved_model", verbose=False)
            return _Source(t.lite.TFLiteConverter.from_saved_model(export_dir), runner.inputs)
    elif kind == formats.SAVEDMODEL:
        runner = SavedModelRunner(src, signature, tags)
        if not input_shapes and not uses_tfforge_ops(runner._fn.graph.as_graph_def()):  # noqa: SLF001
            return _Source(t.lite.TFLiteConverter.from_saved_model(src, signature_keys=[signature],
                                                                   tags=set(tags) if tags else None), runner.inputs)
    frozen = frozen_loader()
    from tfforge.convert import graph_edit
    lowered = graph_edit.inline_functions(frozen.graph, frozen.outputs, every_functional_op=True)
    if lowered is not frozen.graph:  # lowered loops drop what only training needed (gradient accumulators)
        frozen.graph = graph_edit.prune(lowered, frozen.outputs, frozen.inputs)
    graph_def = frozen.to_graph_def()
    source = _Source(None, [])
    if decompose:
        from tfforge.convert.decompose import decompose_tfforge_ops
        source.decomposed = uses_tfforge_ops(graph_def)
        graph_def = decompose_tfforge_ops(graph_def)
    else:
        source.kept = sorted({n.op for n in graph_def.node if n.op.startswith("Tfforge")} |
                             {n.op for f in graph_def.library.function for n in f.node_def
                              if n.op.startswith("Tfforge")})
    if input_shapes:
        graph_def = _pin_shapes(graph_def, frozen.inputs, input_shapes, src)
    source.inputs = GraphRunner(graph_def, frozen.inputs, frozen.outputs).inputs
    # Through a variable-free SavedModel, so the .tflite gets a serving_default signature with the
    # graph's input and output names.
    from tfforge.convert.conversions import frozen_to_savedmodel
    export_dir = os.path.join(tmp, "frozen_saved")
    frozen_to_savedmodel(graph_def, export_dir, frozen.inputs, frozen.outputs)
    source.converter = t.lite.TFLiteConverter.from_saved_model(export_dir)
    return source


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


def _float_nodes(calibrated: bytes) -> list:
    """Output tensor names of the ops decompose_tfforge_ops added (every part of a fused location is
    one of its nodes): the norms and GELU to keep in float32."""
    from tfforge.convert.litert_delegation import _interpreter
    interp, _ = _interpreter(calibrated)
    names = []
    for op in interp._get_ops_details():  # noqa: SLF001
        for t in op["outputs"]:
            name = interp._get_tensor_details(int(t), 0)["name"]  # noqa: SLF001
            if all(DECOMPOSED in part for part in name.split(";")):
                names.append(name)
    return names


def _int8_with_float_norms(converter, t) -> bytes:
    """Full-integer quantization as TFLiteConverter does it (calibrate, then the MLIR quantizer), with the
    rewritten tfforge ops left in float32: the quantizer puts DEQUANTIZE / QUANTIZE around them."""
    from tensorflow.lite.python.convert import mlir_quantize
    converter._experimental_calibrate_only = True  # noqa: SLF001
    calibrated = converter.convert()
    return mlir_quantize(calibrated, disable_per_channel=converter._experimental_disable_per_channel,  # noqa: SLF001
                         input_data_type=t.int8, output_data_type=t.int8,
                         denylisted_nodes=_float_nodes(calibrated))


def export_tflite(src, dst, *, quantize="none", representative=None, select_tf_ops=False, allow_custom_ops=False,
                  decompose=True, input_shapes=None, signature="serving_default", tags=None, safe_mode=True,
                  frozen_options=None, notes: list | None = None) -> int:
    """Writes DST (.tflite) atomically; returns its size in bytes. `input_shapes` ({name: shape}, or one
    shape for a one-input model) pins the inputs' dimensions, so every tensor has a static shape. Things
    the user should know (how much XNNPack takes, custom ops a runtime must provide) are appended to
    `notes` when given."""
    import warnings
    from tfforge._tf import tf
    check_options(quantize, representative)
    shapes = parse_input_shapes(input_shapes)
    t = tf()
    src = os.fspath(src)
    kind = formats.CHECKPOINT if (frozen_options or {}).get("graph") else formats.detect(src)

    def frozen_loader():
        from tfforge.convert.api import load_frozen
        return load_frozen(src, signature=signature, tags=tags, safe_mode=safe_mode, **(frozen_options or {}))

    with tempfile.TemporaryDirectory(prefix="tfforge-tflite-") as tmp:
        source = _converter_for(src, kind, frozen_loader, signature, tags, safe_mode, decompose, shapes, tmp)
        converter, kept = source.converter, source.kept
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
            converter.representative_dataset = representative_dataset(representative, source.inputs)
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
                if quantize == "int8" and source.decomposed:
                    data = _int8_with_float_norms(converter, t)
                else:
                    data = converter.convert()
        except ConversionError:
            raise
        except Exception as exc:
            hint = "" if select_tf_ops else " (ops TFLite lacks can run through --select-tf-ops)"
            raise ConversionError(f"TFLite conversion failed: {str(exc).strip().splitlines()[-1]}{hint}", path=src) from None
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    write_bytes(os.fspath(dst), data)
    if notes is not None:
        notes.extend(_notes(data, kept, source.inputs, quantize, source.decomposed))
    return len(data)


def _notes(data: bytes, kept, inputs, quantize, decomposed) -> list:
    if kept:
        from tfforge.convert.tflite_custom_ops import read_custom_ops, runtime_statement
        custom = read_custom_ops(data)
        return [runtime_statement(custom)] if custom else []
    notes = []
    if quantize == "int8" and decomposed:
        notes.append("int8: the rewritten tfforge norms / GELU stay float32 between DEQUANTIZE and QUANTIZE")
    try:
        from tfforge.convert.litert_delegation import xnnpack_delegation
        delegation = xnnpack_delegation(data)
    except (ImportError, RuntimeError, ValueError):  # Flex or custom ops: no interpreter here runs it
        return notes
    text = delegation.summary()
    open_dims = [i for i in inputs if any(d is None for d in i.shape)]
    if not delegation.whole and open_dims:
        pins = " --input-shape ".join(f"{i.name}=" + ",".join("1" if d is None else str(d) for d in i.shape)
                                      for i in open_dims)
        text += f" (from the unknown dimensions of {', '.join(i.name for i in open_dims)}; pin them, e.g. " \
                f"--input-shape {pins}, for a static graph)"
    notes.append(text)
    return notes
