"""Writing side of the tf.io feature types that are not one plain Example feature: each becomes the
flat native columns of its Example keys.

- ragged (RaggedFeature) with partitions: a nested ``Ragged`` (or nested lists, a tf.RaggedTensor, an
  Arrow nested list column) -> the value key plus one int64 key per partition, each per example (per
  step in feature lists), as tf.io.parse_example rebuilds it;
- varlen / sparse (VarLenFeature / SparseFeature): a ``SparseTriple`` (indices, values, dense_shape;
  the first index column is the row), or for varlen also a list of per-row values;
- fixed_sequence (FixedLenSequenceFeature): per row a list of steps (or an array of steps);
- feature lists (``sequence``): per row a list of per-step values.
"""

from __future__ import annotations

import numpy as np

from tfforge.errors import SpecError
from tfforge.records import _columns
from tfforge.records.ragged import Ragged
from tfforge.records.sparse import SparseTriple
from tfforge.records.spec import Feature


def _is_sparse(obj) -> bool:
    return isinstance(obj, SparseTriple) or (hasattr(obj, "indices") and hasattr(obj, "dense_shape"))


def _as_ragged(name: str, obj, levels: int) -> Ragged:
    """obj as a Ragged with `levels` ragged levels below the rows (dense inner dimensions become uniform
    levels)."""
    if hasattr(obj, "nested_row_splits") and not isinstance(obj, Ragged):  # tf.RaggedTensor
        obj = Ragged.from_tf(obj)
    elif type(obj).__module__.startswith("pyarrow"):
        obj = _arrow_ragged(name, obj)
    elif type(obj).__module__.startswith("pandas"):
        obj = obj.to_numpy(dtype=object).tolist()
    if not isinstance(obj, Ragged):
        try:
            obj = Ragged.from_nested(list(obj), levels)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"column '{name}': cannot read {levels} nested levels of lists ({exc})") from None
    obj = _uniform_inner(obj)
    if obj.ragged_rank != levels:
        raise SpecError(f"column '{name}' has {obj.ragged_rank} ragged level(s); the spec needs {levels}")
    return obj


def _uniform_inner(r: Ragged) -> Ragged:
    """Dense inner dimensions of the flat values as uniform-length levels."""
    if isinstance(r.values, Ragged):
        return Ragged(_uniform_inner(r.values), r.row_splits, r.uniform_row_length)
    values = r.values
    if values.ndim <= 1:
        return r
    inner = values.reshape(-1)
    for k in reversed(values.shape[1:]):
        n = len(inner) // k if k else 0
        inner = Ragged(inner, np.arange(n + 1, dtype=np.int64) * k, k)
    return Ragged(inner, r.row_splits, r.uniform_row_length)


def _arrow_ragged(name: str, arr) -> Ragged:
    import pyarrow as pa

    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks != 1 else arr.chunk(0)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        if arr.null_count:
            arr = pa.compute.fill_null(arr, pa.scalar([], type=arr.type))
        if pa.types.is_fixed_size_list(arr.type):
            k = arr.type.list_size
            offsets = np.arange(len(arr) + 1, dtype=np.int64) * k
            values = arr.flatten()
        else:
            offsets = np.asarray(arr.offsets, dtype=np.int64)
            values = arr.values.slice(offsets[0], offsets[-1] - offsets[0])
            offsets = offsets - offsets[0]
        return Ragged(_arrow_ragged(name, values), offsets)
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def _values(name: str, kind: str, values):
    """Flat values in the native layout of `kind`."""
    arr = np.asarray(values) if not isinstance(values, list) else values
    if kind == "bytes":
        items = arr.reshape(-1).tolist() if isinstance(arr, np.ndarray) else list(arr)
        bad = next((x for x in items if not _columns._is_text(x)), None)
        if bad is not None:
            raise SpecError(f"column '{name}' holds a {type(bad).__name__} where the spec says bytes")
        return items
    arr = np.asarray(arr)
    if arr.size and arr.dtype.kind not in "biuf":
        raise SpecError(f"column '{name}' holds {arr.dtype} values where the spec says {kind}")
    return _columns._numeric_values(kind, arr.reshape(-1) if arr.size else np.zeros(0))


def _column(name, f: Feature, values, row_splits, step_splits=None, kind=None) -> _columns.Column:
    kind = kind or f.kind
    return _columns.Column(kind, _values(name, kind, values), np.ascontiguousarray(row_splits, np.int64), 0, f,
                           len(row_splits) - 1, None if step_splits is None else np.ascontiguousarray(step_splits, np.int64))


def _cumsum0(counts) -> np.ndarray:
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _ranges(starts, counts) -> np.ndarray:
    """concat(arange(s, s + c) for s, c in zip(starts, counts))."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    return np.repeat(np.asarray(starts, np.int64) - _cumsum0(counts)[:-1], counts) + np.arange(total, dtype=np.int64)


def _partition_values(name, kind, S, E):
    """Per unit (units map to this level's rows by E), the partition's values and their splits."""
    a, n = E[:-1], np.diff(E)
    base = np.repeat(S[a], n)
    if kind == "row_lengths":
        return np.diff(S)[E[0]:E[-1]], E - E[0]
    if kind == "row_splits":
        idx = _ranges(a, n + 1)
        return S[idx] - np.repeat(S[a], n + 1), _cumsum0(n + 1)
    if kind == "row_starts":
        return S[_ranges(a, n)] - base, E - E[0]
    if kind == "row_limits":
        return S[_ranges(a, n) + 1] - base, E - E[0]
    if kind == "value_rowids":
        lengths = np.diff(S)
        last = E[1:] - 1
        bad = np.nonzero((n > 0) & (lengths[np.maximum(last, 0)] == 0))[0]
        if bad.size:
            raise SpecError(f"column '{name}': value_rowids cannot hold a unit whose last row is empty "
                            f"(unit {bad[0]})")
        parent = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        items = S[E]
        return parent[items[0]:items[-1]] - np.repeat(a, np.diff(items)), items - items[0]
    raise AssertionError(kind)


def _ragged_columns(name: str, obj, f: Feature) -> list:
    unit_level = 1 if f.sequence else 0
    r = _as_ragged(name, obj, unit_level + 1 + len(f.partitions))
    levels = r.nested_row_splits
    E = levels[unit_level]
    out = []
    for depth, (kind, arg) in enumerate(f.partitions):
        S = levels[unit_level + 1 + depth]
        if kind == "uniform_row_length":
            lengths = np.diff(S)
            if (lengths != arg).any():
                raise SpecError(f"column '{name}': a row of partition {depth} has {lengths[lengths != arg][0]} "
                                f"items where uniform_row_length is {arg}")
        else:
            vals, splits = _partition_values(name, kind, S, E)
            if f.sequence:
                out.append((arg, _column(name, f, vals, levels[0], splits, kind="int64")))
            else:
                out.append((arg, _column(name, f, vals, splits, kind="int64")))
        E = S[E]
    flat = r.flat_values
    key = f.value_key or name
    if f.sequence:
        out.insert(0, (key, _column(name, f, flat, levels[0], E)))
    else:
        out.insert(0, (key, _column(name, f, flat, E)))
    return out


def _sparse_columns(name: str, obj, f: Feature) -> list:
    t = SparseTriple.coerce(obj)
    dims = 1 if f.type == "varlen" else len(f.index_key)
    if t.indices.shape[1] != 1 + dims or len(t.dense_shape) != 1 + dims:
        raise SpecError(f"column '{name}': a sparse triple of rank {len(t.dense_shape)}; the spec's {f.type} "
                        f"feature needs rank {1 + dims}")
    rows = int(t.dense_shape[0])
    order = np.argsort(t.indices[:, 0], kind="stable")
    indices, values = t.indices[order], t.values[order]
    if len(indices) and (indices[:, 0].min() < 0 or indices[:, 0].max() >= rows):
        raise SpecError(f"column '{name}': a row index is outside the dense shape's {rows} rows")
    splits = _cumsum0(np.bincount(indices[:, 0], minlength=rows))
    if f.type == "varlen":
        order = np.lexsort((indices[:, 1], indices[:, 0]))
        indices, values = indices[order], values[order]
        expect = np.arange(len(values), dtype=np.int64) - np.repeat(splits[:-1], np.diff(splits))
        bad = np.nonzero(indices[:, 1] != expect)[0]
        if bad.size:
            raise SpecError(f"column '{name}': a varlen feature holds each row's values at positions 0..n-1; row "
                            f"{indices[bad[0], 0]} has a value at {indices[bad[0], 1]}")
        return [(name, _column(name, f, values, splits))]
    size = np.asarray(f.size)
    if len(indices) and ((indices[:, 1:] < 0) | (indices[:, 1:] >= size)).any():
        raise SpecError(f"column '{name}': an index is outside the spec's size {list(f.size)}")
    out = [(key, _column(name, f, indices[:, 1 + d], splits, kind="int64")) for d, key in enumerate(f.index_key)]
    return out + [(f.value_key, _column(name, f, values, splits))]


def _steps_of(name: str, row, count: int, shape: tuple):
    """One row of a fixed_sequence column as a (steps, count) array."""
    if row is None or _columns._missing(row):
        return np.zeros((0, count))
    arr = np.asarray(row) if not isinstance(row, list) or not row or not _columns._is_text(row[0]) \
        else np.asarray(row, dtype=object)
    if arr.dtype.kind == "O" and arr.ndim == 1 and len(arr) and not _columns._is_text(arr[0]):
        sizes = {np.asarray(s).size for s in arr}
        if sizes != {count}:
            raise SpecError(f"column '{name}': a step has {sorted(sizes - {count})[0]} values; the spec's shape "
                            f"{list(shape)} needs {count}")
        arr = np.stack([np.asarray(s) for s in arr])
    if arr.size % count:
        raise SpecError(f"column '{name}': {arr.size} values do not make whole steps of shape {list(shape)}")
    return arr.reshape(-1, count)


def _fixed_sequence_columns(name: str, obj, f: Feature) -> list:
    if isinstance(obj, np.ndarray) and obj.dtype.kind != "O":
        rows = [obj[i] for i in range(len(obj))]
    elif isinstance(obj, Ragged):
        rows = list(obj)
    elif type(obj).__module__.startswith(("pandas", "pyarrow")):
        rows = obj.to_pylist() if hasattr(obj, "to_pylist") else obj.to_numpy(dtype=object).tolist()
    else:
        rows = list(obj)
    steps = [_steps_of(name, r, f.count, f.shape) for r in rows]
    per_row = np.array([len(s) for s in steps], np.int64)
    flat = np.concatenate([s.reshape(-1) for s in steps]) if steps else np.zeros(0)
    if f.sequence:
        step_splits = np.arange(int(per_row.sum()) + 1, dtype=np.int64) * f.count
        return [(name, _column(name, f, flat, _cumsum0(per_row), step_splits))]
    return [(name, _column(name, f, flat, _cumsum0(per_row * f.count)))]


def columns(name: str, obj, f: Feature) -> list:
    """[(key, Column)] for one feature that is not a plain one."""
    if f.type in ("varlen", "sparse") and _is_sparse(obj):
        if f.sequence:
            raise SpecError(f"column '{name}': give a varlen feature list as per-row lists of per-step values, "
                            "not a sparse triple")
        return _sparse_columns(name, obj, f)
    if f.type == "sparse":
        raise SpecError(f"column '{name}': a sparse feature is written from a SparseTriple (indices, values, "
                        f"dense_shape), not a {type(obj).__name__}")
    if f.type == "fixed_sequence":
        return _fixed_sequence_columns(name, obj, f)
    if f.type == "varlen" and not f.sequence:
        col = _columns._to_column(name, obj)
        if col.row_splits is None:
            col.row_splits = np.arange(col.rows + 1, dtype=np.int64) * col.width
        if col.kind != f.kind:
            col = _column(name, f, [] if col.kind == "none" else col.values, col.row_splits)
        col.feature = f
        return [(name, col)]
    return _ragged_columns(name, obj, f)


def infer(name: str, obj, sequence: bool) -> Feature | None:
    """The feature of a column written without a spec, when it is not a plain one (else None)."""
    if _is_sparse(obj):
        t = SparseTriple.coerce(obj)
        kind = _columns._kind_of_dtype(t.values.dtype) if len(t.values) else "float"
        dtype = t.values.dtype.name if kind != "bytes" else "bytes"
        dims = len(t.dense_shape) - 1
        if dims == 1 and (len(t.values) == 0 or _gapless(t)):
            return Feature(kind, None, dtype, type="varlen")
        keys = [f"{name}_index"] if dims == 1 else [f"{name}_index_{d}" for d in range(dims)]
        return Feature(kind, None, dtype, type="sparse", index_key=keys, value_key=name,
                       size=[int(d) for d in t.dense_shape[1:]])
    if sequence:
        r = _as_ragged(name, obj, 2)
        flat = r.flat_values
        kind = _columns._kind_of_dtype(flat.dtype) if flat.size or flat.dtype.kind != "f" else "float"
        dtype = ("str" if flat.size and isinstance(flat[0], str) else "bytes") if kind == "bytes" else flat.dtype.name
        lengths = set(np.diff(r.values.row_splits).tolist())
        if len(lengths) == 1 and lengths != {0}:
            n = lengths.pop()
            return Feature(kind, () if n == 1 else (n,), dtype, type="fixed_sequence", sequence=True,
                           allow_missing=True)
        return Feature(kind, None, dtype, type="ragged", sequence=True)
    if isinstance(obj, Ragged) and obj.ragged_rank > 1:
        flat = obj.flat_values
        kind = _columns._kind_of_dtype(flat.dtype)
        parts = [("row_lengths", f"{name}_lengths_{d}") for d in range(1, obj.ragged_rank)]
        return Feature(kind, None, "bytes" if kind == "bytes" else flat.dtype.name, type="ragged", value_key=name,
                       partitions=parts)
    return None


def _gapless(t: SparseTriple) -> bool:
    order = np.lexsort((t.indices[:, 1], t.indices[:, 0]))
    idx = t.indices[order]
    counts = np.bincount(idx[:, 0], minlength=int(t.dense_shape[0]))
    expect = np.arange(len(idx)) - np.repeat(_cumsum0(counts)[:-1], counts)
    return bool((idx[:, 1] == expect).all())


def add_physical(physical: dict, key: str, sequence: bool, col) -> None:
    """Adds one Example key's column; a key two features share must get the same data from both."""
    slot = (key, sequence)
    old = physical.get(slot)
    if old is None:
        physical[slot] = col
        return
    same = (old.kind == col.kind and np.array_equal(old.row_splits, col.row_splits)
            and (old.step_splits is None) == (col.step_splits is None)
            and (old.step_splits is None or np.array_equal(old.step_splits, col.step_splits))
            and (list(old.values) == list(col.values) if col.kind == "bytes"
                 else np.array_equal(old.values, col.values)))
    if not same:
        raise SpecError(f"key '{key}' gets different values from two of the spec's features")
