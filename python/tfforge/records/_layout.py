"""Reading side of the tf.io feature types: which Example keys each feature needs (the decoder's
entries), and how the decoded flat columns become the feature's value (dense array, ``Ragged`` with
its partitions, ``SparseTriple``), with tf.io.parse_example's checks.

A key can serve several features (SparseFeature index keys, a RaggedFeature's value key shared by
several partitionings); it is decoded once.
"""

from __future__ import annotations

import numpy as np

from tfforge.errors import SpecError
from tfforge.records.ragged import Ragged
from tfforge.records.sparse import SparseTriple
from tfforge.records.spec import Feature, Spec


class Batch(dict):
    """One batch of read(): {name: column}; ``lengths`` holds the number of steps per row of each
    fixed_sequence feature (as parse_sequence_example's third output)."""

    def __init__(self, *args, lengths=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lengths = lengths or {}


def _entry(key, kind, count=-1, default=None, as_str=False, sequence=False, required=False, stride=1):
    return [key, kind, count, default, as_str, sequence, required, stride]


def _keys_of(name: str, f: Feature) -> list:
    """The decoder entries one feature needs."""
    as_str = f.dtype == "str"
    default = None if f.default is None else list(f.default)
    if f.type == "fixed":
        return [_entry(name, f.kind, f.count, default, as_str)]
    if f.type == "fixed_sequence":
        if f.sequence:
            return [_entry(name, f.kind, f.count, None, as_str, True, not f.allow_missing)]
        if not f.allow_missing:
            raise SpecError(f"feature '{name}': a fixed_sequence feature outside feature lists needs allow_missing "
                            "(as tf.io.parse_example)")
        return [_entry(name, f.kind, -1, None, as_str, stride=f.count)]
    if f.type == "varlen":
        return [_entry(name, f.kind, -1, None, as_str, f.sequence)]
    if f.type == "sparse":
        return [_entry(k, "int64") for k in f.index_key] + [_entry(f.value_key, f.kind, -1, None, as_str)]
    keys = [_entry(f.value_key or name, f.kind, -1, None, as_str, f.sequence)]
    return keys + [_entry(v, "int64", -1, None, False, f.sequence) for k, v in f.partitions if k != "uniform_row_length"]


def decoder_entries(spec: Spec, names) -> list:
    """The decoder's entries for the features `names`, one per (key, context or feature list)."""
    merged: dict = {}
    for name in names:
        for e in _keys_of(name, spec[name]):
            slot = (e[0], e[5])
            old = merged.get(slot)
            if old is None:
                merged[slot] = e
            elif old != e:
                if old[1] != e[1] or old[2] != e[2] or old[3] != e[3] or (old[7] != 1 and e[7] != 1 and old[7] != e[7]):
                    raise SpecError(f"key '{e[0]}' is read in two incompatible ways by the spec's features")
                old[4] = old[4] or e[4]
                old[6] = old[6] or e[6]
                old[7] = max(old[7], e[7])
    return [tuple(e) for e in merged.values()]


class _Where:
    """Maps a row of the batch to its file and record index, for error messages."""

    def __init__(self, segments):
        self.segments = segments  # [(first row in batch, path, record index of that row)]

    def __call__(self, row: int) -> dict:
        for first, path, record in reversed(self.segments):
            if row >= first:
                return {"path": path, "record": record + row - first}
        return {}


def _cast(values, f: Feature):
    if f.kind != "bytes" and f.dtype not in (None, values.dtype.name):
        return values.astype(f.dtype)
    return values


def _pad_value(f: Feature):
    if f.default is not None:
        return f.default[0]
    return b"" if f.kind == "bytes" and f.dtype != "str" else "" if f.kind == "bytes" else 0


def _padded(values, lengths, f: Feature):
    """Rows of `lengths` steps of shape f.shape, padded with the default to the longest row."""
    rows = len(lengths)
    most = int(lengths.max()) if rows else 0
    dtype = object if f.kind == "bytes" else values.dtype
    out = np.full((rows, most) + f.shape, _pad_value(f), dtype=dtype)
    mask = np.arange(most)[None, :] < lengths[:, None]
    out[mask] = values.reshape((-1,) + f.shape)
    return out


def _sparse_from_splits(values, splits):
    lengths = np.diff(splits)
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    cols = np.arange(len(values), dtype=np.int64) - np.repeat(splits[:-1], lengths)
    shape = np.array([len(lengths), int(lengths.max()) if len(lengths) else 0], np.int64)
    return SparseTriple(np.stack([rows, cols], axis=1).reshape(-1, 2), values, shape)


def _sequence_sparse(values, row_splits, step_splits):
    steps = np.diff(row_splits)
    per_step = np.diff(step_splits)
    step_row = np.repeat(np.arange(len(steps), dtype=np.int64), steps)
    step_in_row = np.arange(len(per_step), dtype=np.int64) - np.repeat(row_splits[:-1], steps)
    rows = np.repeat(step_row, per_step)
    st = np.repeat(step_in_row, per_step)
    cols = np.arange(len(values), dtype=np.int64) - np.repeat(step_splits[:-1], per_step)
    shape = np.array([len(steps), int(steps.max()) if len(steps) else 0,
                      int(per_step.max()) if len(per_step) else 0], np.int64)
    return SparseTriple(np.stack([rows, st, cols], axis=1).reshape(-1, 3), values, shape)


def _sparse_feature(name, f: Feature, cols, where):
    values, vsplits = cols[(f.value_key, False)][:2]
    lengths = np.diff(vsplits)
    idx = []
    for key in f.index_key:
        iv, isplits = cols[(key, False)][:2]
        bad = np.nonzero(np.diff(isplits) != lengths)[0]
        if bad.size:
            raise SpecError(f"feature '{name}': index key '{key}' has {np.diff(isplits)[bad[0]]} values and value key "
                            f"'{f.value_key}' {lengths[bad[0]]}", **where(int(bad[0])))
        idx.append(iv)
    rows = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    # Indices beyond `size` pass through, as tf.io.parse_example lets them.
    indices = np.stack([rows] + idx, axis=1) if len(values) else np.zeros((0, 1 + len(idx)), np.int64)
    if not f.already_sorted and len(values):
        order = np.lexsort(tuple(indices[:, d] for d in range(indices.shape[1] - 1, -1, -1)))
        indices, values = indices[order], values[order]
    return SparseTriple(indices.astype(np.int64), values, np.array((len(lengths),) + f.size, np.int64))


def _lengths_of(kind, part, m, key):
    """One unit's partition values as row lengths over its m items, or None when they do not fit."""
    if kind == "row_lengths":
        ok = (part >= 0).all() and part.sum() == m
        return part if ok else None
    if kind == "row_splits":
        if len(part) == 0:  # a missing splits key: no rows, which fits no values
            return part if m == 0 else None
        ok = len(part) >= 1 and part[0] == 0 and part[-1] == m and (np.diff(part) >= 0).all()
        return np.diff(part) if ok else None
    if kind == "row_starts":
        limits = np.append(part[1:], m)
        ok = (len(part) == 0 and m == 0) or (len(part) and part[0] == 0 and (limits - part >= 0).all())
        return limits - part if ok else None
    if kind == "row_limits":
        starts = np.insert(part[:-1], 0, 0)
        ok = (len(part) == 0 and m == 0) or (len(part) and part[-1] == m and (part - starts >= 0).all())
        return part - starts if ok else None
    if kind == "value_rowids":
        ok = len(part) == m and (part >= 0).all() and (np.diff(part) >= 0).all()
        return np.bincount(part, minlength=int(part[-1]) + 1 if len(part) else 0) if ok else None
    raise AssertionError(kind)


def _batch_lengths(name, kind, key, pv, ps, units, where):
    """TensorFlow's batched reading without validation: each unit's partition values are offset by the
    unit's first item and applied to all the values at once (so a misaligned unit borrows its
    neighbour's values). Returns (row lengths, rows per unit); what cannot form a ragged tensor at all
    is an error, as in TensorFlow."""
    per_unit = np.diff(ps)
    start = np.repeat(units[:-1], per_unit)
    n_items = int(units[-1])
    if kind == "row_lengths":
        lengths, rows = pv, per_unit
    elif kind in ("row_splits", "row_limits"):
        keep = np.ones(len(pv), bool)
        if kind == "row_splits":
            keep[ps[:-1][per_unit > 0]] = False
        limits = (pv + start)[keep]
        lengths = np.diff(np.insert(limits, 0, 0))
        rows = np.maximum(per_unit - 1, 0) if kind == "row_splits" else per_unit
    elif kind == "row_starts":
        starts = pv + start
        lengths = np.append(starts[1:], n_items) - starts
        rows = per_unit
    else:
        rows = np.array([int(pv[a:b].max()) + 1 if b > a else 0 for a, b in zip(ps[:-1], ps[1:])], np.int64)
        ids = pv + np.repeat(_cumsum0(rows)[:-1], per_unit)
        total = int(rows.sum())
        if len(ids) != n_items or (len(ids) and (ids.min() < 0 or ids.max() >= total or (np.diff(ids) < 0).any())):
            lengths = np.array([-1])
        else:
            lengths = np.bincount(ids, minlength=total)
    if (lengths < 0).any() or int(lengths.sum()) != n_items:
        raise SpecError(f"Feature {name}: {kind} '{key}' do not form a valid RaggedTensor over the batch", **where(0))
    return lengths.astype(np.int64), rows.astype(np.int64)


def _cumsum0(counts) -> np.ndarray:
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _partitioned(name, f: Feature, values, unit_splits, parts, where, unit_row, checked=True):
    """Applies the ragged partitions (innermost first) to values grouped in units (examples or steps)
    by unit_splits; parts: per non-uniform partition, (values, splits) of its key per unit. checked:
    each unit's partitions must fit its own values (else TensorFlow's unvalidated batch reading)."""
    inner = values
    units = unit_splits
    for depth in range(len(f.partitions) - 1, -1, -1):
        kind, arg = f.partitions[depth]
        counts = np.diff(units)
        if kind == "uniform_row_length":
            k = arg
            bad = np.nonzero(counts % k != 0)[0] if k else np.nonzero(counts != 0)[0]
            if bad.size:
                raise SpecError(f"Feature {name}: values and partitions are not aligned (uniform_row_length {k} "
                                f"does not divide {counts[bad[0]]})", **where(unit_row(int(bad[0]))))
            if k == 0:
                raise SpecError(f"feature '{name}': uniform_row_length 0 is not supported")
            if not isinstance(inner, Ragged) and depth == len(f.partitions) - 1:
                inner = inner.reshape((-1, k) + inner.shape[1:])
            else:
                total = len(inner) // k
                inner = Ragged(inner, np.arange(0, total * k + 1, k, dtype=np.int64), k)
            units = units // k
            continue
        pv, ps = parts[depth]
        if len(ps) != len(units):
            raise SpecError(f"Feature {name}: values and partitions are not aligned ('{arg}' has {len(ps) - 1} "
                            f"steps, the values {len(units) - 1})", **where(unit_row(0)))
        if not checked:
            flat, rows_per_unit = _batch_lengths(name, kind, arg, pv, ps, units, where)
            inner = Ragged.from_row_lengths(inner, flat)
            units = _cumsum0(rows_per_unit)
            continue
        lengths, rows_per_unit = [], np.zeros(len(counts), np.int64)
        for u in range(len(counts)):
            got = _lengths_of(kind, pv[ps[u]:ps[u + 1]], int(counts[u]), arg)
            if got is None:
                raise SpecError(f"Feature {name}: values and partitions are not aligned ({kind} '{arg}' does not "
                                f"partition {counts[u]} values)", **where(unit_row(u)))
            lengths.append(got)
            rows_per_unit[u] = len(got)
        flat = np.concatenate(lengths).astype(np.int64) if lengths else np.zeros(0, np.int64)
        inner = Ragged.from_row_lengths(inner, flat)
        units = np.zeros(len(counts) + 1, np.int64)
        np.cumsum(rows_per_unit, out=units[1:])
    return Ragged(inner, units)


def _ragged(name, f: Feature, cols, where, strict=True):
    values, splits, *steps = cols[(f.value_key or name, f.sequence)]
    values = _cast(values, f)
    parts = [None if k == "uniform_row_length" else cols[(v, f.sequence)] for k, v in f.partitions]
    if not f.sequence:
        return _partitioned(name, f, values, splits, [p and p[:2] for p in parts], where, lambda u: u,
                            strict or f.validate)
    # Feature lists: the partitions apply within each step; the rows then group the steps.
    step_splits = steps[0]
    step_row = np.repeat(np.arange(len(splits) - 1), np.diff(splits))
    per_step = []
    for p in parts:
        if p is None:
            per_step.append(None)
            continue
        pv, prow, psteps = p
        if not np.array_equal(prow, splits):
            bad = int(np.nonzero(np.diff(prow) != np.diff(splits))[0][0])
            raise SpecError(f"Feature {name}: values and partitions are not aligned (a partition's feature list has "
                            f"{np.diff(prow)[bad]} steps, the values' {np.diff(splits)[bad]})", **where(bad))
        per_step.append((pv, psteps))
    inner = _partitioned(name, f, values, step_splits, per_step, where, lambda u: int(step_row[u]),
                         strict or f.validate)
    return Ragged(inner, splits)


def assemble(spec: Spec, names, decoded: dict, rows: int, segments, strict: bool = True) -> Batch:
    """The batch of features `names` from the decoder's columns. strict: every example's ragged
    partitions must fit its values; else, for features without validate, TensorFlow's batch reading."""
    cols = {(k[0], True) if isinstance(k, tuple) else (k, False): v for k, v in decoded.items()}
    where = _Where(segments)
    out, lengths = {}, {}
    for name in names:
        f = spec[name]
        if f.type == "fixed":
            values, _ = cols[(name, False)]
            out[name] = _cast(values, f).reshape((rows,) + f.shape)
        elif f.type == "fixed_sequence":
            values, splits, *steps = cols[(name, f.sequence)]
            per_row = np.diff(splits) if f.sequence else np.diff(splits) // f.count
            lengths[name] = per_row
            out[name] = _padded(_cast(values, f), per_row, f)
        elif f.type == "varlen":
            got = cols[(name, f.sequence)]
            values = _cast(got[0], f)
            out[name] = _sequence_sparse(values, got[1], got[2]) if f.sequence else _sparse_from_splits(values, got[1])
        elif f.type == "sparse":
            triple = _sparse_feature(name, f, cols, where)
            out[name] = SparseTriple(triple.indices, _cast(triple.values, f), triple.dense_shape)
        else:
            out[name] = _ragged(name, f, cols, where, strict)
    return Batch(out, lengths=lengths)
