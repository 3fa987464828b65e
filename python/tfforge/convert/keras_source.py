"""Keras 3 .keras and Keras .h5 files -> FrozenGraph.

The .keras fast path never creates a TensorFlow variable: the model is rebuilt from config.json inside
a StatelessScope that defers variable initialisation, each variable is paired with its dataset in
model.weights.h5 through the file's public layout (keras_weights.py, h5py, nothing read), and the model
is traced with `stateless_call`, its weights arriving as placeholders that become Consts. The weights
are numpy views of the memory-mapped .keras file (HDF5 datasets are stored contiguously and the zip
member uncompressed), so the bytes are read once, by the native splicer.

Slower paths, each announced by one log line (tfforge._compat.fallback): a model the layout walk
cannot follow has its weights read through Keras's public load_weights; a Keras without the deferred
build (tfforge._compat.keras) is loaded with keras.models.load_model."""

from __future__ import annotations

import json
import logging
import zipfile

from tfforge.convert import graph_edit, keras_weights
from tfforge.convert.frozen import FrozenGraph
from tfforge.errors import ConversionError

log = logging.getLogger("tfforge.convert")

_CONFIG = "config.json"
_LOAD_MODEL = "freezing through keras.models.load_model (every variable created and filled)"
_LOAD_WEIGHTS = "reading the weights through Keras's load_weights (into memory, not memory-mapped)"


def load_model(path: str, safe_mode: bool = True):
    """keras.models.load_model with tfforge's layers registered and safe_mode as asked."""
    from tfforge._tf import keras, load_tfforge_ops
    load_tfforge_ops()
    try:
        return keras().models.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, KeyError ... for files it cannot load
        raise _load_error(exc, path) from None


def read_config(path: str) -> dict:
    """config.json of a .keras file, without its compile config."""
    with zipfile.ZipFile(path) as zf:
        try:
            config = json.loads(zf.read(_CONFIG))
        except KeyError:
            raise ConversionError(f"no {_CONFIG} in the archive", path=path) from None
        except (ValueError, zipfile.BadZipFile) as exc:  # JSON, UTF-8 or zip member errors
            raise ConversionError(f"{_CONFIG} cannot be read: {exc}", path=path) from None
    if not isinstance(config, dict):
        raise ConversionError(f"{_CONFIG} is not a JSON object", path=path)
    config["compile_config"] = None
    return config


def build_deferred(config: dict, sharing_scope, path: str, safe_mode: bool = True):
    """The model of a .keras file, built from its config with every variable left uninitialised;
    `sharing_scope` from tfforge._compat.keras.sharing_scope(config)."""
    from tfforge._tf import keras, load_tfforge_ops
    if _names_tfforge(config):  # its layers must be registered; other models skip loading the op library
        load_tfforge_ops()
    k = keras()
    try:
        with k.StatelessScope(initialize_variables=False), sharing_scope:
            return k.saving.deserialize_keras_object(config, safe_mode=safe_mode)
    except Exception as exc:  # Keras raises ValueError, TypeError, ImportError ... for configs it cannot build
        raise _load_error(exc, path) from None


def _names_tfforge(config: dict) -> bool:
    """True when the config refers to anything of tfforge's (a layer registered as "tfforge>...", a
    module under tfforge)."""
    return "tfforge" in json.dumps(config)


def weight_arrays(model, path: str) -> dict:
    """id(variable) -> array (None for state the file does not hold) for every variable of `model`:
    through the file layout when the model fits it, else through Keras's load_weights."""
    from tfforge._compat import fallback
    from tfforge._compat import keras as compat
    own = compat.own_variables()
    if not own:
        fallback(own, _LOAD_WEIGHTS)
        return keras_weights.weight_arrays_via_keras(model, path)
    try:
        arrays = keras_weights.weight_arrays(model, path)
    except keras_weights.Unmappable as exc:
        fallback(f"{path}: the weights layout cannot be followed ({exc})", _LOAD_WEIGHTS)
        return keras_weights.weight_arrays_via_keras(model, path)
    log.debug("%s: %d variables paired with model.weights.h5 through its layout (fast path)", path, len(arrays))
    return arrays


def _load_error(exc, path) -> ConversionError:
    """One line for a model Keras cannot load: a file it does not understand, a config naming a
    function or class it will not import, Lambda layers under safe_mode."""
    if isinstance(exc, ConversionError):
        return exc
    text = str(exc)
    if "Exception encountered:" in text:  # Keras wraps the cause after the whole layer config
        text = text.rsplit("Exception encountered:", 1)[1]
    text = " ".join(text.split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:300] + " ..."
    if "safe_mode" in text or "Lambda" in text:
        return ConversionError(f"{text} (pass --unsafe / safe_mode=False only for files you trust)", path=path)
    return ConversionError(f"Keras cannot load this model: {text}", path=path)


def trace(model, input_names=None):
    """Traces `model` as a function of (inputs, trainable values, non-trainable values); returns the
    concrete function and the Keras input names."""
    from tfforge._tf import tf
    t = tf()
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ConversionError(f"model {model.name!r} has no defined inputs (a subclassed model never called?); "
                              "save it after building it on an Input, or convert its SavedModel export")
    names = input_names or [_input_name(x, i) for i, x in enumerate(inputs)]
    specs = [t.TensorSpec(x.shape, x.dtype, name=n) for x, n in zip(inputs, names)]
    trainable = [t.TensorSpec(v.shape, v.dtype) for v in model.trainable_variables]
    non_trainable = [t.TensorSpec(v.shape, v.dtype) for v in model.non_trainable_variables]

    def call(xs, tvals, ntvals):
        x = xs[0] if len(xs) == 1 else list(xs)
        y, _ = model.stateless_call(list(tvals), list(ntvals), x, training=False)
        return y

    from tfforge._tf import keras
    fn = t.function(call, autograph=False)
    # An enclosing scope that never initialises: stateless_call's own scope would otherwise
    # initialise every deferred variable (random values for all weights) when it exits.
    with keras().StatelessScope(initialize_variables=False):
        return fn.get_concrete_function(specs, trainable, non_trainable), names


def _input_name(keras_tensor, index):
    name = getattr(keras_tensor, "name", None) or f"input_{index}"
    return name.split(":")[0]


def output_names(model, count):
    names = list(getattr(model, "output_names", None) or [])
    return names if len(names) == count else [f"output_{i}" for i in range(count)]


def freeze_keras(path: str, safe_mode: bool = True) -> FrozenGraph:
    from tfforge._compat import fallback
    from tfforge._compat import keras as compat
    from tfforge.graph.graph import Graph
    deferred = compat.deferred_build()
    if not deferred:
        fallback(deferred, _LOAD_MODEL)
        return freeze_keras_h5(path, safe_mode)
    config = read_config(path)
    sharing = compat.sharing_scope(config)
    if sharing is None:
        fallback(compat.object_sharing(), f"{path} shares objects between layers; {_LOAD_MODEL}")
        return freeze_keras_h5(path, safe_mode)
    model = build_deferred(config, sharing, path, safe_mode)
    by_id = weight_arrays(model, path)
    concrete, in_names = trace(model)
    graph = Graph.from_bytes(concrete.graph.as_graph_def().SerializeToString())
    n_inputs = len(in_names)
    placeholders = [t.op.name for t in concrete.inputs]
    ordered = list(model.trainable_variables) + list(model.non_trainable_variables)
    weights = {}
    for name, variable in zip(placeholders[n_inputs:], ordered):
        array = by_id[id(variable)]
        weights[name] = array if array is not None else keras_weights.initial_value(variable)
    graph_edit.splice_weights(graph, weights)
    inputs = graph_edit.rename(graph, placeholders[:n_inputs], in_names)
    outputs = [f"{n}:0" for n in graph_edit.name_outputs(graph, [t.name for t in concrete.outputs],
                                                          output_names(model, len(concrete.outputs)),
                                                          [t.dtype.as_datatype_enum for t in concrete.outputs])]
    graph = graph_edit.prune(graph, outputs)
    kept = {n.name for n in graph.nodes}
    return FrozenGraph(graph, {k: v for k, v in weights.items() if k in kept}, inputs=inputs, outputs=outputs)


def freeze_keras_h5(path: str, safe_mode: bool = True) -> FrozenGraph:
    """Legacy HDF5 models load through Keras (their layout predates the per-object weights store); so
    does a .keras file when the deferred build is unavailable."""
    model = load_model(path, safe_mode)
    return freeze_loaded_model(model)


def freeze_loaded_model(model) -> FrozenGraph:
    from tfforge._tf import tf
    from tfforge.convert.function_source import freeze_concrete_function
    t = tf()
    names = [_input_name(x, i) for i, x in enumerate(model.inputs)]
    specs = [t.TensorSpec(x.shape, x.dtype, name=n) for x, n in zip(model.inputs, names)]

    def call(*xs):
        return t.nest.flatten(model(xs[0] if len(xs) == 1 else list(xs), training=False))

    concrete = t.function(call, autograph=False).get_concrete_function(*specs)
    return freeze_concrete_function(concrete, input_names=names,
                                    output_names=output_names(model, len(concrete.outputs)))
