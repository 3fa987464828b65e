"""Keras 3 .keras and Keras .h5 files -> FrozenGraph.

The .keras fast path never creates a TensorFlow variable: the model is rebuilt from config.json inside
a StatelessScope that defers variable initialisation, Keras's own weight-loading walk is run against
the weights file with reads intercepted (so each variable is matched to its HDF5 dataset without
reading it), and the model is traced with `stateless_call`, its weights arriving as placeholders that
become Consts. The weights are numpy views of the memory-mapped .keras file (HDF5 datasets are stored
contiguously and the zip member uncompressed), so the bytes are read once, by the native splicer."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np

from tfforge.convert import graph_edit
from tfforge.convert.frozen import FrozenGraph
from tfforge.convert.frozen import contiguous as _contiguous
from tfforge.errors import ConversionError

_CONFIG = "config.json"
_WEIGHTS = "model.weights.h5"


def load_model(path: str, safe_mode: bool = True):
    """keras.models.load_model with tfforge's layers registered and safe_mode as asked."""
    from tfforge._tf import keras, load_tfforge_ops
    load_tfforge_ops()
    try:
        return keras().models.load_model(path, compile=False, safe_mode=safe_mode)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, KeyError ... for files it cannot load
        raise _load_error(exc, path) from None


def build_deferred(path: str, safe_mode: bool = True):
    """The model of a .keras file, built from its config with every variable left uninitialised."""
    from tfforge._tf import keras, load_tfforge_ops
    load_tfforge_ops()
    k = keras()
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
    from keras.src.saving.serialization_lib import ObjectSharingScope
    try:
        with k.StatelessScope(initialize_variables=False), ObjectSharingScope():
            return k.saving.deserialize_keras_object(config, safe_mode=safe_mode)
    except Exception as exc:
        raise _load_error(exc, path) from None


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


def weight_arrays(model, path: str) -> dict:
    """id(variable) -> numpy array for every variable of the model (trainable, non-trainable and
    seed-generator state): views of the mapped file where the bytes lie there
    contiguously, else read."""
    from keras.src.saving import saving_lib

    class _LazyStore(saving_lib.H5IOStore):
        # Hands out the h5py dataset instead of reading it into memory, and reads a stored (uncompressed)
        # member straight from the .keras file: h5py seeks a lot, and seeking backwards in a zip member
        # stream re-reads (and re-checksums) it from the start.
        def __init__(self, raw):
            self._raw = raw
            super().__init__(_WEIGHTS, archive=None if raw is not None else zf, mode="r")

        def _get_h5_file(self, path_or_io, mode=None):
            import h5py
            if self._raw is not None:
                return h5py.File(self._raw, mode="r")
            return super()._get_h5_file(path_or_io, mode)

        def __getitem__(self, key):
            return saving_lib.safe_get_h5_dataset(self._h5_entry_group, key)

    with zipfile.ZipFile(path) as zf:
        if _WEIGHTS not in zf.namelist():
            raise ConversionError(f"no {_WEIGHTS} in the archive (sharded or .npz weights are not supported "
                                  "by the fast path)", path=path)
        info = zf.getinfo(_WEIGHTS)
        stored = info.compress_type == zipfile.ZIP_STORED
        base = _member_offset(path, info) if stored else None
        raw = _FileSlice(path, base, info.file_size) if stored else None
        store = _LazyStore(raw)
        found = {}
        variables = list(model.trainable_variables) + list(model.non_trainable_variables)
        try:
            for v in variables:
                object.__setattr__(v, "assign", lambda value, v=v: found.__setitem__(id(v), value))
            saving_lib._load_state(model, weights_store=store, assets_store=None, inner_path="",  # noqa: SLF001
                                   visited_saveables=set())
        finally:
            for v in variables:
                v.__dict__.pop("assign", None)
        mapped = np.memmap(path, mode="r") if base is not None else None
        arrays = {id(v): _array(found.get(id(v)), v, mapped, base, path) for v in variables}
        store.close()
        if raw is not None:
            raw.close()
    return arrays


class _FileSlice(io.RawIOBase):
    """A read-only, seekable window [base, base + size) of a file, for h5py's file-object driver."""

    def __init__(self, path, base, size):
        super().__init__()
        self._f = open(path, "rb")
        self._base, self._size, self._pos = base, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        self._pos = offset if whence == io.SEEK_SET else self._pos + offset if whence == io.SEEK_CUR \
            else self._size + offset
        return self._pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), self._size - self._pos))
        self._f.seek(self._base + self._pos)
        got = self._f.readinto(memoryview(buffer)[:n])
        self._pos += got
        return got

    def close(self):
        self._f.close()
        super().close()


def _member_offset(path: str, info) -> int:
    """Byte offset of a stored zip member's data: after its local header and that header's own
    (possibly different) name and extra fields."""
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    if header[:4] != b"PK\x03\x04":
        raise ConversionError("bad zip local header", path=path, offset=info.header_offset)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _array(dataset, variable, mapped, base, path):
    import ml_dtypes
    shape = tuple(int(d) for d in variable.shape)
    dtype = np.dtype(ml_dtypes.bfloat16) if variable.dtype == "bfloat16" else np.dtype(variable.dtype)
    if dataset is None:  # state Keras does not save (a seed generator's): its initial value
        return _contiguous(np.asarray(variable._initializer(variable.shape, dtype=variable.dtype)))  # noqa: SLF001
    if isinstance(dataset, np.ndarray):
        value = dataset
    else:
        stored = np.dtype(ml_dtypes.bfloat16) if dataset.attrs.get("dtype") == "bfloat16" else dataset.dtype
        offset = dataset.id.get_offset() if mapped is not None and dataset.chunks is None else None
        if offset is not None and dataset.size:
            value = np.ndarray(dataset.shape, stored, buffer=mapped, offset=base + offset)
        else:
            value = np.asarray(dataset[()]).view(stored) if stored != dataset.dtype else np.asarray(dataset[()])
    if tuple(value.shape) != shape:
        raise ConversionError(f"weights file holds shape {tuple(value.shape)} for variable {variable.path} of "
                              f"shape {shape}", path=path)
    if value.dtype != dtype:
        value = value.astype(dtype)
    return value


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
    from tfforge.graph.graph import Graph
    model = build_deferred(path, safe_mode)
    by_id = weight_arrays(model, path)
    concrete, in_names = trace(model)
    graph = Graph.from_bytes(concrete.graph.as_graph_def().SerializeToString())
    n_inputs = len(in_names)
    placeholders = [t.op.name for t in concrete.inputs]
    ordered = list(model.trainable_variables) + list(model.non_trainable_variables)
    weights = {name: by_id[id(variable)] for name, variable in zip(placeholders[n_inputs:], ordered)}
    graph_edit.splice_weights(graph, weights)
    inputs = graph_edit.rename(graph, placeholders[:n_inputs], in_names)
    outputs = [f"{n}:0" for n in graph_edit.name_outputs(graph, [t.name for t in concrete.outputs],
                                                          output_names(model, len(concrete.outputs)),
                                                          [t.dtype.as_datatype_enum for t in concrete.outputs])]
    graph = graph_edit.prune(graph, outputs)
    kept = {n.name for n in graph.nodes}
    return FrozenGraph(graph, {k: v for k, v in weights.items() if k in kept}, inputs=inputs, outputs=outputs)


def freeze_keras_h5(path: str, safe_mode: bool = True) -> FrozenGraph:
    """Legacy HDF5 models load through Keras (their layout predates the per-object weights store)."""
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
