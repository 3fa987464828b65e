"""Turns user data (dict of numpy columns, pandas DataFrame, pyarrow Table) into the flat column
layout the native encoder takes, and infers each column's Feature on the way.

Numbers become int64 (bool, ints) or float32 (floats) lists; bytes and str become bytes lists (str as
UTF-8). A 1-D array is a scalar per row, an N-D array a fixed shape per row, a sequence of arrays /
lists (or a Ragged, or an Arrow list column) variable length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from tfforge import _native
from tfforge.errors import SpecError
from tfforge.records.ragged import Ragged
from tfforge.records.spec import Feature, Spec

_NUMPY_KIND = {"b": "int64", "i": "int64", "u": "int64", "f": "float"}


@dataclass
class Column:
    kind: str
    values: object          # int64 / float32 ndarray, list of bytes/str, or (data, offsets) buffers
    row_splits: object      # int64 ndarray (rows + 1) or None
    width: int              # values per row when row_splits is None
    feature: Feature
    rows: int
    step_splits: object = None  # int64 ndarray (steps + 1) for a feature list, else None


@dataclass
class PreparedBatch:
    rows: int
    native: object           # _native.ExampleBatch
    features: dict           # name -> Feature
    untyped: set             # names of columns without any value, whose kind is unknown


def _numeric_values(kind: str, arr: np.ndarray) -> np.ndarray:
    dtype = np.int64 if kind == "int64" else np.float32
    return np.ascontiguousarray(arr, dtype=dtype).reshape(-1)


def _kind_of_dtype(dtype: np.dtype) -> str:
    if dtype.kind in _NUMPY_KIND:
        return _NUMPY_KIND[dtype.kind]
    if dtype.kind in "SUO":
        return "bytes"
    raise SpecError(f"cannot store numpy dtype {dtype} in an Example (int, float, bool, bytes and str can be)")


def _is_text(x) -> bool:
    return isinstance(x, (bytes, str, bytearray, memoryview))


def _from_numpy(name: str, arr: np.ndarray) -> Column:
    rows = arr.shape[0] if arr.ndim else 1
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind == "O":
        return _from_sequence(name, arr)
    kind = _kind_of_dtype(arr.dtype)
    shape = arr.shape[1:]
    width = int(np.prod(shape)) if shape else 1
    if kind == "bytes":
        dtype = "str" if arr.dtype.kind == "U" else "bytes"
        values = arr.reshape(-1).tolist()
        return Column("bytes", values, None, width, Feature("bytes", shape, dtype), rows)
    return Column(kind, _numeric_values(kind, arr), None, width, Feature(kind, shape, arr.dtype.name), rows)


def _ragged(name: str, values, splits: np.ndarray, value_dtype) -> Column:
    values = np.asarray(values) if not isinstance(values, list) else values
    if isinstance(values, list) or values.dtype.kind in "SUO":
        items = values if isinstance(values, list) else values.tolist()
        dtype = "str" if items and isinstance(items[0], str) else "bytes"
        return Column("bytes", items, splits, 0, Feature("bytes", None, dtype), len(splits) - 1)
    kind = _kind_of_dtype(values.dtype)
    return Column(kind, _numeric_values(kind, values), np.ascontiguousarray(splits, dtype=np.int64), 0,
                  Feature(kind, None, np.dtype(value_dtype or values.dtype).name), len(splits) - 1)


def _from_sequence(name: str, seq) -> Column:
    items = list(seq) if not isinstance(seq, list) else seq
    rows = len(items)
    first = next((x for x in items if x is not None), None)
    if first is None and rows:
        raise SpecError(f"column '{name}' holds only None values")
    if rows == 0:
        return Column("float", np.zeros(0, np.float32), None, 1, Feature("float", (), "float32"), 0)
    if _is_text(first):
        bad = next((i for i, x in enumerate(items) if not _is_text(x)), None)
        if bad is not None:
            raise SpecError(f"column '{name}': row {bad} is a {type(items[bad]).__name__} among bytes/str values")
        dtype = "str" if isinstance(first, str) else "bytes"
        return Column("bytes", items, None, 1, Feature("bytes", (), dtype), rows)
    if isinstance(first, (int, float, bool, np.number, np.bool_)):
        if any(x is None for x in items):
            raise SpecError(f"column '{name}' has missing (None) values; give a default in the spec or fill them")
        return _from_numpy(name, np.asarray(items))
    # Rows that are themselves sequences: fixed shape when they all agree, else variable length.
    rows_list = [[] if x is None else x for x in items]
    text_rows = any(len(r) and _is_text(r[0] if not isinstance(r, np.ndarray) else r.reshape(-1)[0])
                    for r in rows_list[:16])
    if text_rows:
        flat = [v for r in rows_list for v in (r.reshape(-1).tolist() if isinstance(r, np.ndarray) else r)]
        lengths = [r.size if isinstance(r, np.ndarray) else len(r) for r in rows_list]
        splits = np.zeros(rows + 1, np.int64)
        np.cumsum(lengths, out=splits[1:])
        return _ragged(name, flat, splits, None)
    if all(len(r) == 0 and not isinstance(r, np.ndarray) for r in rows_list):
        # Only empty Python lists: the kind is unknown, so rows encode as empty Features (any type).
        return Column("none", [], np.zeros(rows + 1, np.int64), 0, Feature("float", None), rows)
    arrays = [np.asarray(r) for r in rows_list]
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1 and arrays[0].size > 0 and all(x is not None for x in items):
        return _from_numpy(name, np.stack(arrays))
    r = Ragged.from_rows(arrays)
    return _ragged(name, r.values, r.row_splits, arrays[0].dtype if arrays else None)


def _from_arrow(name: str, arr) -> Column:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    t = arr.type
    rows = len(arr)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        if arr.null_count:  # a missing list is an empty one
            arr = pa.compute.fill_null(arr, pa.scalar([], type=t))
        offsets = np.asarray(arr.offsets, dtype=np.int64)
        values = arr.values.slice(offsets[0], offsets[-1] - offsets[0])
        inner = _from_arrow(name, values)
        splits = offsets - offsets[0]
        return Column(inner.kind, inner.values, splits, 0, Feature(inner.kind, None, inner.feature.dtype), rows)
    if pa.types.is_fixed_size_list(t):
        inner = _from_arrow(name, arr.flatten())
        shape = (t.list_size,) + tuple(inner.feature.shape or ())
        return Column(inner.kind, inner.values, None, t.list_size * inner.width,
                      Feature(inner.kind, shape, inner.feature.dtype), rows)
    if arr.null_count:
        first = next(i for i, v in enumerate(arr.is_null().to_pylist()) if v)
        raise SpecError(f"column '{name}' has a missing value at row {first}; fill it or give a default")
    if pa.types.is_binary(t) or pa.types.is_string(t) or pa.types.is_large_binary(t) or pa.types.is_large_string(t):
        large = pa.types.is_large_binary(t) or pa.types.is_large_string(t)
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, dtype=np.int64 if large else np.int32)[arr.offset:arr.offset + rows + 1]
        offsets = offsets.astype(np.int64)
        data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        dtype = "str" if pa.types.is_string(t) or pa.types.is_large_string(t) else "bytes"
        return Column("bytes", (data, offsets), None, 1, Feature("bytes", (), dtype), rows)
    if pa.types.is_boolean(t) or pa.types.is_integer(t) or pa.types.is_floating(t):
        return _from_numpy(name, arr.to_numpy(zero_copy_only=False))
    if pa.types.is_dictionary(t):
        return _from_arrow(name, arr.cast(t.value_type))
    raise SpecError(f"column '{name}': Arrow type {t} cannot be stored in an Example")


def _to_column(name: str, obj) -> Column:
    if isinstance(obj, Ragged):
        return _ragged(name, obj.values, obj.row_splits, obj.values.dtype)
    if isinstance(obj, np.ndarray):
        return _from_numpy(name, obj)
    mod = type(obj).__module__
    if mod.startswith("pyarrow"):
        return _from_arrow(name, obj)
    if mod.startswith("pandas"):
        if getattr(obj.dtype, "kind", "O") in "biuf" and not hasattr(obj, "cat"):
            return _from_numpy(name, obj.to_numpy())
        return _from_sequence(name, obj.to_numpy(dtype=object))
    if isinstance(obj, (list, tuple)):
        return _from_sequence(name, obj)
    if np.isscalar(obj) or _is_text(obj):
        return _to_column(name, [obj])
    raise SpecError(f"column '{name}': cannot store a {type(obj).__name__}")


def _columns_of(data) -> dict:
    """name -> column object, from a dict, DataFrame, Table or RecordBatch."""
    if isinstance(data, Mapping):
        return dict(data)
    mod = type(data).__module__
    if mod.startswith("pandas"):
        return {str(c): data[c] for c in data.columns}
    if mod.startswith("pyarrow"):
        return {name: data.column(i) for i, name in enumerate(data.schema.names)}
    raise SpecError(f"cannot write a {type(data).__name__}: expected a dict of columns, a pandas DataFrame or a pyarrow Table")


def is_batch(data) -> bool:
    mod = type(data).__module__
    return isinstance(data, Mapping) or (mod.startswith("pandas") and hasattr(data, "columns")) or (
        mod.startswith("pyarrow") and hasattr(data, "num_rows") and hasattr(data, "column"))


def _apply_spec(name: str, col: Column, feature: Feature) -> Column:
    """Checks a column against the spec's feature and converts its values to the spec's kind."""
    empty = (col.row_splits[-1] == 0) if col.row_splits is not None else (col.width == 0 or col.rows == 0)
    if col.kind != feature.kind and empty:  # no values at all: an empty list of any kind will do
        col.kind = feature.kind
        col.values = [] if feature.kind == "bytes" else _numeric_values(feature.kind, np.zeros(0))
    if col.kind != feature.kind:
        if col.kind == "bytes" or feature.kind == "bytes":
            raise SpecError(f"column '{name}' holds {col.kind} values but the spec says {feature.kind}")
        col.values = _numeric_values(feature.kind, col.values)
        col.kind = feature.kind
    if not feature.varlen:
        if col.row_splits is not None:
            lengths = np.diff(col.row_splits)
            bad = np.nonzero(lengths != feature.count)[0]
            if bad.size:
                raise SpecError(f"column '{name}': row {bad[0]} has {lengths[bad[0]]} values, the spec's shape "
                                f"{list(feature.shape)} needs {feature.count}")
            col.row_splits, col.width = None, feature.count
        elif col.width != feature.count:
            raise SpecError(f"column '{name}' has {col.width} values per row, the spec's shape "
                            f"{list(feature.shape)} needs {feature.count}")
    col.feature = feature
    return col


def _missing(x) -> bool:
    return x is None or type(x).__name__ in ("NAType", "NaTType")


def _fill_defaults(name: str, obj, feature: Feature):
    """A fixed feature's column with missing rows (None, pandas NA, Arrow nulls) given the spec's default."""
    if feature.default is None:
        return obj
    mod = type(obj).__module__
    if mod.startswith("pyarrow"):
        if not obj.null_count:
            return obj
        items = obj.to_pylist()
    elif mod.startswith("pandas"):
        if not obj.isna().any():
            return obj
        items = obj.to_numpy(dtype=object).tolist()
    elif isinstance(obj, np.ndarray) and obj.dtype.kind == "O":
        items = obj.tolist()
    elif isinstance(obj, (list, tuple)):
        items = list(obj)
    else:
        return obj
    if not any(_missing(x) for x in items):
        return obj
    default = list(feature.default)
    fill = default[0] if feature.shape == () else np.array(default, dtype=object).reshape(feature.shape)
    if feature.kind != "bytes" and feature.shape != ():
        fill = fill.astype(np.int64 if feature.kind == "int64" else np.float32)
    return [fill if _missing(x) else x for x in items]


def prepare(data, spec: Spec | None = None, sequence=()) -> PreparedBatch:
    """Flat native columns for a batch. With a spec, each feature is laid out as its tf.io type needs
    (see _kinds); without one, Ragged columns of several levels become ragged features, SparseTriples
    varlen / sparse features and the columns named in `sequence` SequenceExample feature lists."""
    from tfforge.records import _kinds

    cols = _columns_of(data)
    if spec is not None:
        missing = [k for k in spec if k not in cols]
        extra = [k for k in cols if k not in spec]
        if missing or extra:
            raise SpecError("data and spec disagree: " + "; ".join(
                ([f"missing columns {missing}"] if missing else []) + ([f"columns not in the spec {extra}"] if extra else [])))
        cols = {k: cols[k] for k in spec}
    unknown = [k for k in sequence if k not in cols]
    if unknown:
        raise SpecError(f"sequence columns {unknown} are not in the data ({', '.join(cols)})")
    physical: dict = {}
    features = {}
    for name, obj in cols.items():
        feature = spec[name] if spec is not None else _kinds.infer(name, obj, name in sequence)
        if feature is None or feature.plain:
            if feature is not None and feature.type == "fixed":
                obj = _fill_defaults(name, obj, feature)
            col = _to_column(name, obj)
            if feature is not None:
                col = _apply_spec(name, col, feature)
            _kinds.add_physical(physical, name, False, col)
            features[name] = col.feature
        else:
            for key, col in _kinds.columns(name, obj, feature):
                _kinds.add_physical(physical, key, feature.sequence, col)
            features[name] = feature
    row_counts = {c.rows for c in physical.values()}
    if len(row_counts) > 1:
        raise SpecError("columns have different numbers of rows: " +
                        ", ".join(f"{k[0]}={c.rows}" for k, c in physical.items()))
    rows = row_counts.pop() if row_counts else 0
    native = _native.ExampleBatch(
        [(k, c.kind, c.values, c.row_splits, c.width, c.step_splits) for (k, _), c in physical.items()], rows)
    untyped = {k for (k, seq), c in physical.items() if c.kind == "none" and k in features and features[k].plain}
    return PreparedBatch(rows, native, features, untyped)


def example_batch(example: Mapping) -> dict:
    """One Example given as {name: value} (scalar, list, array, bytes) as a one-row column dict."""
    out = {}
    for name, v in example.items():
        if isinstance(v, np.ndarray) and v.ndim >= 1:
            out[name] = v[None] if v.dtype.kind != "O" else [v.tolist()]
        elif isinstance(v, (list, tuple)):
            out[name] = np.asarray(v)[None] if v and not _is_text(v[0]) else [list(v)]
        else:
            out[name] = [v]
    return out
