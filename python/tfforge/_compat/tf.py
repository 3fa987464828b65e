"""TensorFlow interfaces outside its public API that tfforge uses, each behind a feature check.

  grappler()        tensorflow.python.grappler.tf_optimizer.OptimizeGraph(config_proto, metagraph, ...):
                    Grappler's function inlining, which has no public Python entry point. Needed to
                    freeze TF2 functions (their calls must be inlined before variables become Consts);
                    grappler_inline() is the one caller (graph_edit.inline_functions, inline_function).
  inline_helper()   tensorflow.python.framework.convert_to_constants._run_inline_graph_optimization(
                    func, lower_control_flow, aggressive_inlining): TensorFlow's own first freezing
                    step around Grappler; when gone, inline_function() does the same through
                    grappler_inline().
  load_partial()    tf.__internal__.saved_model.load_partial(export_dir, filters, tags, options) with
                    LoadOptions(experimental_skip_checkpoint=True): a SavedModel's objects without their
                    variables' values. When gone, SavedModels load normally (values read, then frozen).
  op_registry()     tensorflow.python.framework.op_def_registry.get(name): is an op registered (custom
                    ops included). When gone: tf.raw_ops for built-in ops, the loaded library's names
                    for tfforge's.
  xla_context()     tensorflow.python.ops.control_flow_util.GraphOrParentsInXlaContext(graph): is the
                    function being traced XLA-compiled, so fused ops take their composite form. When
                    gone, the fused op is used (XLA then reports that it cannot compile it).
  transform_graph() tensorflow.python.util._pywrap_transform_graph.TransformGraphWithStringInputs: the
                    Graph Transform Tool's passes tfforge has no native version of.
  float_norm_quantizer(converter)
                    tensorflow.lite.python.convert.mlir_quantize(..., denylisted_nodes=...) with the
                    converter's _experimental_calibrate_only / _experimental_disable_per_channel and the
                    interpreter's _get_ops_details / _get_tensor_details: int8 export that keeps the
                    decomposed norms in float32. When gone, they are quantized with the rest.
  dataset_source()  tensorflow.python.data.ops.dataset_ops.DatasetSource: wraps the variant of tfforge's
                    native tf.data source op (TfforgeRecordBatchDataset) as a tf.data.Dataset. When
                    gone, records.dataset reads with TFRecordDataset + the TfforgeParseExampleBatch op.
  interpreter_nodes(interp)
                    the LiteRT/TFLite Interpreter's _get_ops_details(): its node list after delegation,
                    DELEGATE nodes included, which is how much XNNPack took can be counted. When gone,
                    the export reports no delegation count (tests fail: they need it).
  keep_tensor_lists(converter)
                    TFLiteConverter._experimental_lower_tensor_list_ops = False: TensorList ops stay
                    Flex ops with --select-tf-ops. When gone, the converter lowers them (and may fail
                    on RNN loops with a dynamic batch).

Tested with TensorFlow 2.21 (pyproject pins tensorflow-cpu==2.21.*).
"""

from __future__ import annotations

import functools
import inspect

from tfforge._compat import Feature, fallback, missing
from tfforge.errors import ConversionError


def _tf():
    from tfforge._tf import tf
    return tf()


def _params(fn) -> list[str] | None:
    try:
        return list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


@functools.cache
def grappler() -> Feature:
    feature = _private_function("tensorflow.python.grappler.tf_optimizer", "OptimizeGraph")
    if feature and (_params(feature.value) or [])[:2] != ["config_proto", "metagraph"]:
        return missing(feature.name, "not a function of (config_proto, metagraph, ...) any more")
    return feature


@functools.cache
def inline_helper() -> Feature:
    feature = _private_function("tensorflow.python.framework.convert_to_constants", "_run_inline_graph_optimization")
    params = _params(feature.value) if feature else None
    if feature and params != ["func", "lower_control_flow", "aggressive_inlining"]:
        return missing(feature.name, f"its arguments changed to {params}")
    return feature


@functools.cache
def load_partial() -> Feature:
    t = _tf()
    name = "tf.__internal__.saved_model.load_partial"
    load = getattr(getattr(getattr(t, "__internal__", None), "saved_model", None), "load_partial", None)
    if not callable(load):
        return missing(name, "gone from this TensorFlow")
    params = _params(load)
    if not params or params[:4] != ["export_dir", "filters", "tags", "options"]:
        return missing(name, f"its arguments changed to {params}")
    if "experimental_skip_checkpoint" not in (_params(t.saved_model.LoadOptions) or []):
        return missing("tf.saved_model.LoadOptions(experimental_skip_checkpoint=)", "the option is gone")
    return Feature(name, True, value=load)


def inline_function(func, lower_control_flow: bool = True):
    """The GraphDef of a concrete function with its function calls inlined by Grappler (aggressive mode),
    functional control flow lowered to Switch/Merge unless `lower_control_flow` is False."""
    helper = inline_helper()
    if helper:
        return helper.value(func, lower_control_flow, aggressive_inlining=True)
    fallback(helper, "inlining through Grappler directly")
    graph_def = func.graph.as_graph_def()
    if not lower_control_flow:
        for node in list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]:
            if node.op in ("If", "StatelessIf", "While", "StatelessWhile"):
                node.attr["_lower_using_switch_merge"].b = False
    return grappler_inline(graph_def, [x.name for x in list(func.inputs) + list(func.outputs)])


def grappler_inline(graph_def, fetches: list[str]):
    """`graph_def` (a TensorFlow GraphDef proto) with its function calls inlined (aggressive mode) and
    functional control flow lowered by Grappler, keeping what `fetches` (node or tensor names) need."""
    optimize = grappler()
    if not optimize:
        raise ConversionError(f"inlining the graph's functions needs Grappler, and this TensorFlow lacks "
                              f"{optimize.name} ({optimize.reason})")
    t = _tf()
    meta = t.compat.v1.MetaGraphDef()
    meta.graph_def.CopyFrom(graph_def)
    for function in meta.graph_def.library.function:
        function.attr.pop("api_implements", None)  # else Grappler keeps the call for a device-specific variant
    meta.collection_def["train_op"].node_list.value.extend(fetches)
    config = t.compat.v1.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.min_graph_nodes = -1
    rewrite.optimizers.append("function")
    rewrite.function_optimization = rewrite.AGGRESSIVE
    return optimize.value(config, meta)


def _private_function(module_name: str, attr: str, params: list[str] | None = None) -> Feature:
    """Feature for `module_name.attr`, a callable whose leading parameters are `params` (when given)."""
    import importlib
    name = f"{module_name}.{attr}"
    _tf()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        return missing(name, str(exc))
    fn = getattr(module, attr, None)
    if not callable(fn):
        return missing(name, "gone from this TensorFlow")
    if params is not None:
        found = _params(fn)
        if found is not None and found[:len(params)] != params:  # pybind functions have no signature to read
            return missing(name, f"its arguments changed to {found}")
    return Feature(name, True, value=fn)


@functools.cache
def op_registry() -> Feature:
    return _private_function("tensorflow.python.framework.op_def_registry", "get", ["name"])


def op_registered(op_name: str) -> bool:
    """Whether TensorFlow has an op of this name registered (built-in or loaded from a library)."""
    registry = op_registry()
    if registry:
        return registry.value(op_name) is not None
    return hasattr(_tf().raw_ops, op_name)


@functools.cache
def xla_context() -> Feature:
    return _private_function("tensorflow.python.ops.control_flow_util", "GraphOrParentsInXlaContext", ["graph"])


def in_xla_context() -> bool:
    """True while tracing a function that XLA will compile (jit_compile=True)."""
    t = _tf()
    if t.executing_eagerly():
        return False
    feature = xla_context()
    if not feature:
        _once(feature, "tfforge's fused ops are used inside jit_compile=True functions too (XLA cannot compile them)")
        return False
    return bool(feature.value(t.compat.v1.get_default_graph()))


@functools.cache
def transform_graph() -> Feature:
    return _private_function("tensorflow.python.util._pywrap_transform_graph", "TransformGraphWithStringInputs")


def keep_tensor_lists(converter) -> None:
    """Asks a TFLiteConverter to keep TensorList ops as Flex ops instead of lowering them."""
    if hasattr(converter, "_experimental_lower_tensor_list_ops"):
        converter._experimental_lower_tensor_list_ops = False  # noqa: SLF001 (the converter's only switch for it)
    else:
        _once(missing("TFLiteConverter._experimental_lower_tensor_list_ops", "gone from this TensorFlow"),
              "TensorList ops are lowered (RNN loops with a dynamic batch may fail to convert)")


_logged: set[str] = set()


def _once(feature: Feature, slower: str) -> None:
    """fallback(), once per process for features checked on every call (per op, per converter)."""
    if feature.name not in _logged:
        _logged.add(feature.name)
        fallback(feature, slower)


@functools.cache
def _mlir_quantize() -> Feature:
    return _private_function("tensorflow.lite.python.convert", "mlir_quantize")


def float_norm_quantizer(converter) -> Feature:
    """mlir_quantize, when it and the converter and interpreter internals it is used with are all there."""
    feature = _mlir_quantize()
    if not feature:
        return feature
    params = _params(feature.value) or []
    lacking = [p for p in ("disable_per_channel", "input_data_type", "output_data_type", "denylisted_nodes")
               if p not in params]
    if lacking:
        return missing(feature.name, f"no {', '.join(lacking)} argument")
    for attr in ("_experimental_calibrate_only", "_experimental_disable_per_channel"):
        if not hasattr(converter, attr):
            return missing(f"TFLiteConverter.{attr}", "gone from this TensorFlow")
    interpreter_class = _interpreter_class()
    for attr in ("_get_ops_details", "_get_tensor_details"):
        if not callable(getattr(interpreter_class, attr, None)):
            return missing(f"{interpreter_class.__module__}.Interpreter.{attr}", "gone from this runtime")
    return feature


def _interpreter_class():
    """The Interpreter class litert_delegation._interpreter picks: ai-edge-litert's, else tf.lite's."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = _tf().lite.Interpreter
    return Interpreter


@functools.cache
def dataset_source() -> Feature:
    feature = _private_function("tensorflow.python.data.ops.dataset_ops", "DatasetSource")
    if feature and not isinstance(feature.value, type):
        return missing(feature.name, "no longer a class")
    return feature


@functools.cache
def _interpreter_nodes(interpreter_class) -> Feature:
    name = f"{interpreter_class.__module__}.Interpreter._get_ops_details"
    if not callable(getattr(interpreter_class, "_get_ops_details", None)):
        return missing(name, "gone from this runtime")
    return Feature(name, True)


def interpreter_nodes(interp) -> list | None:
    """The interpreter's nodes after delegation (dicts with op_name, index, inputs, outputs), or None
    (logged once) when this runtime no longer lists them."""
    feature = _interpreter_nodes(type(interp))
    if not feature:
        _once(feature, "how much XNNPack takes is not reported")
        return None
    return interp._get_ops_details()  # noqa: SLF001 - checked above
