"""Pairs the variables of a model rebuilt from a .keras file with their weights in model.weights.h5.

A .keras file is a zip of config.json, metadata.json and model.weights.h5. In the HDF5 file every saved
object (model, layer, sublayer) has a group whose path follows the object tree: a layer list is a group
of children named after their classes in snake case, numbered from the second of a kind on
(`layers/dense`, `layers/dense_1`), any other child is named after the attribute that holds it
(`layers/multi_head_attention/query_dense`). Each object's `vars` subgroup holds the datasets its
`save_own_variables(store)` writes under the keys "0", "1", ... and, in Keras 3 files, the object's
name as an attribute.

The fast path reads that layout with h5py: each group's object is found along the path, asked through
the public `save_own_variables` which variable it stores under which key, and checked against the
group's name attribute, the dataset shapes, and the rule that every dataset is claimed once. No dataset
is read: uncompressed ones become StoredWeight ranges of the .keras file, which the graph writer streams
out (pread in chunks, the file checked unchanged), so no weight is held in memory or memory-mapped. When a model does not
fit that layout (a layer that stores computed values instead of its variables, a path tfforge cannot
follow), `Unmappable` says why and the caller falls back to `weight_arrays_via_keras`: Keras's public
`load_weights` inside a StatelessScope, which reads every dataset into memory."""

from __future__ import annotations

import io
import os
import re
import struct
import zipfile

import numpy as np

from tfforge.convert.frozen import contiguous as _contiguous
from tfforge.errors import ConversionError

WEIGHTS = "model.weights.h5"
# Groups at the top of the file that belong to training state, absent from a model rebuilt without
# its compile config.
_TRAINING_STATE = frozenset({"optimizer", "compile_metrics", "loss", "metrics"})


class Unmappable(Exception):
    """The model does not fit the layout the fast path reads; the message says where and why."""


def weight_arrays(model, path: str) -> dict:
    """id(variable) -> numpy array (None for state the file does not hold, e.g. a seed generator's) for
    every variable of the model, found through the public layout of model.weights.h5. Raises
    Unmappable when the model does not fit it."""
    import h5py
    with zipfile.ZipFile(path) as zf:
        if WEIGHTS not in zf.namelist():
            raise Unmappable(f"no {WEIGHTS} in the archive (sharded or .npz weights)")
        info = zf.getinfo(WEIGHTS)
        stored = info.compress_type == zipfile.ZIP_STORED
        base = _member_offset(path, info) if stored else None
        raw = _FileSlice(path, base, info.file_size) if stored else io.BytesIO(zf.read(WEIGHTS))
    try:
        with h5py.File(raw, mode="r") as h5:
            datasets = _LayoutWalk(h5).pairs(model)
            source = _source_file(path) if base is not None else None
            variables = _variables(model)
            return {id(v): _array(datasets.get(id(v)), v, source, base, path) for v in variables}
    except OSError as exc:
        raise ConversionError(f"{WEIGHTS} is not a readable HDF5 file: {exc}", path=path) from None
    finally:
        raw.close()


def weight_arrays_via_keras(model, path: str) -> dict:
    """The same mapping through Keras's public weight loading: `model.load_weights` inside a
    StatelessScope records each assignment instead of performing it. Reads every weight into memory.
    The weights file is extracted to a scratch directory first: Keras reading it from inside the zip
    seeks through the member stream (34 s instead of 2 s for 537 MB)."""
    import tempfile

    from tfforge._tf import keras
    k = keras()
    with tempfile.TemporaryDirectory(prefix="tfforge-") as scratch:  # scratch, not an output
        try:
            with zipfile.ZipFile(path) as zf:
                if WEIGHTS not in zf.namelist():
                    raise ConversionError(f"no {WEIGHTS} in the archive (sharded or .npz weights are not "
                                          "supported)", path=path)
                zf.extract(WEIGHTS, scratch)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ConversionError(f"cannot extract {WEIGHTS}: {exc}", path=path) from None
        try:
            with k.StatelessScope(initialize_variables=False) as scope:
                model.load_weights(os.path.join(scratch, WEIGHTS))
        except (ValueError, KeyError, TypeError, OSError) as exc:  # what Keras raises for weights it cannot load
            raise ConversionError(f"Keras cannot load the weights: {' '.join(str(exc).split())[:300]}",
                                  path=path) from None
    result = {}
    for v in _variables(model):
        value = scope.get_current_value(v)
        result[id(v)] = _checked(np.asarray(k.ops.convert_to_numpy(value)), v, path) if value is not None else None
    return result


def initial_value(variable) -> np.ndarray:
    """The value a variable the weights file does not hold starts with (a seed generator's state):
    reading an uninitialised Keras variable's `value` runs its initializer."""
    from tfforge._tf import keras
    return _contiguous(np.asarray(keras().ops.convert_to_numpy(variable.value)))


def _variables(model) -> list:
    return list(model.trainable_variables) + list(model.non_trainable_variables)


class _Recorder(dict):
    """The `store` handed to save_own_variables: keeps what the layer stores under each key."""


class _LayoutWalk:
    def __init__(self, h5):
        import h5py
        self._h5py = h5py
        self.h5 = h5
        self.claimed = {}      # id(variable) -> dataset
        self.claimed_at = {}   # id(variable) -> HDF5 path
        self.visited = set()   # id(object)

    def pairs(self, model) -> dict:
        known = {id(v) for v in _variables(model)}
        self._object(model, self.h5, "", root=True, named=True)
        strays = [p for i, p in self.claimed_at.items() if i not in known]
        if strays:
            raise Unmappable(f"{strays[0]} holds a variable that is not one of the model's")
        return self.claimed

    def _object(self, obj, group, path, root=False, named=False):
        """`named`: the object's name comes from config.json (the model, its layers), so the group's name
        attribute must match it; sublayers created in a layer's constructor get fresh names each time."""
        if id(obj) in self.visited:
            raise Unmappable(f"{path or '/'}: the same object is saved at two places")
        self.visited.add(id(obj))
        self._own_variables(obj, group, path, named)
        for name in group:
            if name == "vars":
                continue
            child_path = f"{path}/{name}" if path else name
            sub = self._group(group, name, child_path)
            try:
                child = getattr(obj, name, None)
            except Exception as exc:  # a property of the user's layer that fails on the rebuilt model
                raise Unmappable(f"{child_path}: reading {type(obj).__name__}.{name} failed ({type(exc).__name__}: "
                                 f"{exc})") from None
            if child is None and root and name in _TRAINING_STATE:
                continue
            if isinstance(child, (list, tuple, dict)):
                self._container(child, sub, child_path, named=name == "layers" and self._is_model(obj))
            elif callable(getattr(child, "save_own_variables", None)):
                self._object(child, sub, child_path)
            else:
                raise Unmappable(f"{child_path}: {type(obj).__name__} has no saveable attribute {name!r}")

    def _container(self, items, group, path, named=False):
        children = {}
        counts = {}
        for item in items.values() if isinstance(items, dict) else items:
            if isinstance(item, (list, tuple, dict)):
                kind = "container"
            elif self._saveable(item):
                kind = _snake_case(type(item).__name__)
            else:
                continue
            counts[kind] = counts.get(kind, -1) + 1
            children[kind if counts[kind] == 0 else f"{kind}_{counts[kind]}"] = item
        for name in group:
            child_path = f"{path}/{name}"
            if name not in children:
                raise Unmappable(f"{child_path}: no such element in the {type(items).__name__} it belongs to")
            sub = self._group(group, name, child_path)
            item = children[name]
            if isinstance(item, (list, tuple, dict)):
                self._container(item, sub, child_path)
            elif id(item) not in self.visited:
                self._object(item, sub, child_path, named=named)

    @staticmethod
    def _is_model(obj) -> bool:
        from tfforge._tf import keras
        return isinstance(obj, keras().Model)

    @staticmethod
    def _saveable(item) -> bool:
        from tfforge._tf import keras
        k = keras()
        return isinstance(item, (k.Operation, k.metrics.Metric, k.losses.Loss, k.optimizers.Optimizer))

    def _own_variables(self, obj, group, path, named):
        vars_group = self._group(group, "vars", f"{path}/vars") if "vars" in group else None
        if vars_group is not None and named:
            saved_name = vars_group.attrs.get("name")
            if isinstance(saved_name, bytes):
                saved_name = saved_name.decode("utf-8", "replace")
            if saved_name is not None and saved_name != getattr(obj, "name", saved_name):
                raise Unmappable(f"{path or '/'} holds the weights of {saved_name!r}, but the model has "
                                 f"{getattr(obj, 'name', '?')!r} there")
        store = _Recorder()
        try:
            obj.save_own_variables(store)
        except Exception as exc:  # a layer's own saving code, run on uninitialised variables
            raise Unmappable(f"{path or '/'}: {type(obj).__name__}.save_own_variables failed on the rebuilt "
                             f"model ({type(exc).__name__}: {exc})") from None
        keys = set(vars_group) if vars_group is not None else set()
        if set(store) != keys:
            raise Unmappable(f"{path or '/'}: {type(obj).__name__} stores {sorted(store)} but the file has "
                             f"{sorted(keys)}")
        from tfforge._tf import keras
        for key, variable in store.items():
            if not isinstance(variable, keras().Variable):
                raise Unmappable(f"{path}/vars/{key}: {type(obj).__name__} stores a computed value, not a variable")
            if id(variable) in self.claimed:
                raise Unmappable(f"{path}/vars/{key}: variable {variable.path} is also stored at "
                                 f"{self.claimed_at[id(variable)]}")
            self.claimed[id(variable)] = self._dataset(vars_group, key, f"{path}/vars/{key}")
            self.claimed_at[id(variable)] = f"{path}/vars/{key}"

    def _group(self, parent, name, path):
        link = parent.get(name, getlink=True)
        if not isinstance(link, self._h5py.HardLink):
            raise ConversionError(f"{WEIGHTS}: {path} is a {type(link).__name__}; only plain groups are read")
        group = parent[name]
        if not isinstance(group, self._h5py.Group):
            raise ConversionError(f"{WEIGHTS}: {path} is a {type(group).__name__}, expected a group")
        return group

    def _dataset(self, parent, name, path):
        link = parent.get(name, getlink=True)
        if not isinstance(link, self._h5py.HardLink):
            raise ConversionError(f"{WEIGHTS}: {path} is a {type(link).__name__}; only plain datasets are read")
        dataset = parent[name]
        if not isinstance(dataset, self._h5py.Dataset) or dataset.external or dataset.is_virtual:
            raise ConversionError(f"{WEIGHTS}: {path} is not a plain dataset (external, virtual or a group)")
        return dataset


def _snake_case(name: str) -> str:
    """Class name -> the group name of a list element (`MultiHeadAttention` -> `multi_head_attention`)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class _FileSlice(io.RawIOBase):
    """A read-only, seekable window [base, base + size) of a file, for h5py's file-object driver (h5py
    seeks a lot, and seeking backwards in a zip member stream re-reads it from the start)."""

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
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise ConversionError("bad zip local header", path=path, offset=info.header_offset)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len


def _source_file(path: str):
    """The .keras file opened once for every weight range (native errors are ConversionErrors)."""
    from tfforge import _native
    return _native.SourceFile(os.fspath(path), "ConversionError")


def _array(dataset, variable, source, base, path):
    """The dataset's values for the variable: a StoredWeight range of the .keras file (streamed by the
    graph writer, never held in memory) when the dataset is stored contiguously and uncompressed in an
    uncompressed zip member with the variable's dtype, else an array read from the file."""
    if dataset is None:
        return None
    import ml_dtypes

    from tfforge import _native
    from tfforge.convert.frozen import stored_weight
    stored = np.dtype(ml_dtypes.bfloat16) if dataset.attrs.get("dtype") == "bfloat16" else dataset.dtype
    if tuple(dataset.shape) != tuple(int(d) for d in variable.shape):
        raise ConversionError(f"weights file holds shape {tuple(dataset.shape)} for variable {variable.path} of "
                              f"shape {tuple(variable.shape)}", path=path)
    offset = dataset.id.get_offset() if source is not None and dataset.chunks is None else None
    if offset is not None and dataset.size and stored.byteorder in "=|<" and stored == _variable_dtype(variable):
        size = int(dataset.size) * stored.itemsize
        if base + offset + size > source.size:
            raise ConversionError(f"{WEIGHTS}: dataset {dataset.name} runs past the end of the file", path=path,
                                  offset=base + offset)
        weight = stored_weight(_native.StoredBytes(source, base + offset, size, f"dataset {dataset.name!r} of {WEIGHTS}"),
                               stored, dataset.shape)
        if weight is not None:
            return weight
    value = np.asarray(dataset[()])
    value = value.view(stored) if stored != value.dtype else value
    return _checked(value, variable, path)


def _variable_dtype(variable) -> np.dtype:
    import ml_dtypes
    return np.dtype(ml_dtypes.bfloat16) if variable.dtype == "bfloat16" else np.dtype(variable.dtype)


def _checked(value, variable, path):
    shape = tuple(int(d) for d in variable.shape)
    dtype = _variable_dtype(variable)
    if tuple(value.shape) != shape:
        raise ConversionError(f"weights file holds shape {tuple(value.shape)} for variable {variable.path} of "
                              f"shape {shape}", path=path)
    return value if value.dtype == dtype else value.astype(dtype)
