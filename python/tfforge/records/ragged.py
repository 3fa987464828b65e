"""Variable-length columns: flat values plus row_splits, the layout read() returns and write() accepts.

A ``Ragged`` nests like ``tf.RaggedTensor``: its ``values`` may be another ``Ragged`` (one level per
ragged dimension), and a level may have a uniform row length (``tf.RaggedTensor.from_uniform_row_length``).
"""

from __future__ import annotations

import numpy as np


class Ragged:
    """Rows of different lengths: row i is ``values[row_splits[i]:row_splits[i + 1]]``.

    ``len(r)`` is the number of rows, ``r[i]`` a numpy array (or a Ragged for nested levels),
    ``r.tolist()`` nested lists. The partitions of TensorFlow's RaggedTensor are all here:
    ``row_splits``, ``row_lengths``, ``row_starts``, ``row_limits``, ``value_rowids``,
    ``uniform_row_length`` (None unless every row has that length by construction),
    ``nested_row_splits`` and ``flat_values`` over every level.
    """

    __slots__ = ("values", "row_splits", "uniform_row_length")

    def __init__(self, values, row_splits, uniform_row_length=None):
        self.values = values if isinstance(values, Ragged) else np.asarray(values)
        self.row_splits = np.asarray(row_splits, dtype=np.int64)
        self.uniform_row_length = None if uniform_row_length is None else int(uniform_row_length)

    @classmethod
    def from_rows(cls, rows, dtype=None) -> "Ragged":
        arrays = [np.asarray(r, dtype=dtype).reshape(-1) for r in rows]
        splits = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=splits[1:])
        if arrays:  # empty rows (float64 by numpy's default) do not decide the dtype
            values = np.concatenate([a for a in arrays if a.size] or arrays)
        else:
            values = np.zeros(0, dtype=dtype or np.float32)
        if dtype is not None:
            values = values.astype(dtype, copy=False)
        return cls(values, splits)

    @classmethod
    def from_row_lengths(cls, values, row_lengths) -> "Ragged":
        lengths = np.asarray(row_lengths, dtype=np.int64)
        splits = np.zeros(len(lengths) + 1, np.int64)
        np.cumsum(lengths, out=splits[1:])
        return cls(values, splits)

    @classmethod
    def from_nested(cls, rows, ragged_rank: int = 1, dtype=None) -> "Ragged":
        """From nested Python lists / arrays with ``ragged_rank`` ragged levels below the rows."""
        if ragged_rank < 1:
            raise ValueError("ragged_rank must be at least 1")
        if ragged_rank == 1:
            return cls.from_rows(rows, dtype)
        lengths = [0 if r is None else len(r) for r in rows]
        inner = cls.from_nested([x for r in rows if r is not None for x in r], ragged_rank - 1, dtype)
        return cls.from_row_lengths(inner, lengths)

    @classmethod
    def from_tf(cls, rt) -> "Ragged":
        """From a tf.RaggedTensor (or a plain tensor / array: returned as a numpy array)."""
        if not hasattr(rt, "row_splits"):
            return np.asarray(rt)
        inner = cls.from_tf(rt.values)
        uniform = rt.uniform_row_length
        return cls(inner, np.asarray(rt.row_splits), None if uniform is None else int(np.asarray(uniform)))

    def to_tf(self):
        """This as a tf.RaggedTensor (imports TensorFlow)."""
        from tfforge._tf import import_tensorflow

        tf = import_tensorflow()
        inner = self.values.to_tf() if isinstance(self.values, Ragged) else tf.constant(self.values)
        if self.uniform_row_length is not None:
            return tf.RaggedTensor.from_uniform_row_length(inner, self.uniform_row_length, nrows=self.nrows)
        return tf.RaggedTensor.from_row_splits(inner, self.row_splits)

    @property
    def nrows(self) -> int:
        return len(self.row_splits) - 1

    @property
    def row_lengths(self) -> np.ndarray:
        return np.diff(self.row_splits)

    @property
    def row_starts(self) -> np.ndarray:
        return self.row_splits[:-1]

    @property
    def row_limits(self) -> np.ndarray:
        return self.row_splits[1:]

    @property
    def value_rowids(self) -> np.ndarray:
        return np.repeat(np.arange(self.nrows, dtype=np.int64), self.row_lengths)

    @property
    def ragged_rank(self) -> int:
        return 1 + (self.values.ragged_rank if isinstance(self.values, Ragged) else 0)

    @property
    def nested_row_splits(self) -> tuple:
        inner = self.values.nested_row_splits if isinstance(self.values, Ragged) else ()
        return (self.row_splits,) + inner

    @property
    def flat_values(self) -> np.ndarray:
        return self.values.flat_values if isinstance(self.values, Ragged) else self.values

    def __len__(self):
        return self.nrows

    def _row(self, i):
        b, e = self.row_splits[i], self.row_splits[i + 1]
        if isinstance(self.values, Ragged):
            return self.values[b:e]
        return self.values[b:e]

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                raise IndexError("Ragged supports only contiguous slices")
            stop = max(stop, start)
            splits = self.row_splits[start:stop + 1]
            inner = self.values[splits[0]:splits[-1]]
            return Ragged(inner, splits - splits[0], self.uniform_row_length)
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return self._row(i)

    def __iter__(self):
        for i in range(len(self)):
            yield self._row(i)

    def tolist(self) -> list:
        return [row.tolist() for row in self]

    to_list = tolist

    def __eq__(self, other):
        if not isinstance(other, Ragged) or not np.array_equal(self.row_splits, other.row_splits):
            return False
        if self.uniform_row_length != other.uniform_row_length:
            return False
        if isinstance(self.values, Ragged) or isinstance(other.values, Ragged):
            return self.values == other.values
        return self.values.shape == other.values.shape and np.array_equal(self.values, other.values)

    def __repr__(self):
        flat = self.flat_values
        return f"Ragged({len(self)} rows, ragged_rank {self.ragged_rank}, {len(flat)} values of {flat.dtype})"
