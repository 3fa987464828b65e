"""Variable-length columns: flat values plus row_splits, the layout read() returns and write() accepts."""

from __future__ import annotations

import numpy as np


class Ragged:
    """Rows of different lengths: row i is ``values[row_splits[i]:row_splits[i + 1]]``.

    ``len(r)`` is the number of rows, ``r[i]`` a numpy array, ``r.tolist()`` a list of lists,
    ``r.row_lengths`` the length of each row. Same layout as ``tf.RaggedTensor.from_row_splits``.
    """

    __slots__ = ("values", "row_splits")

    def __init__(self, values, row_splits):
        self.values = np.asarray(values)
        self.row_splits = np.asarray(row_splits, dtype=np.int64)

    @classmethod
    def from_rows(cls, rows, dtype=None) -> "Ragged":
        arrays = [np.asarray(r, dtype=dtype).reshape(-1) for r in rows]
        splits = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(a) for a in arrays], out=splits[1:])
        if arrays:
            values = np.concatenate(arrays)
        else:
            values = np.zeros(0, dtype=dtype or np.float32)
        if dtype is not None:
            values = values.astype(dtype, copy=False)
        return cls(values, splits)

    @property
    def row_lengths(self) -> np.ndarray:
        return np.diff(self.row_splits)

    def __len__(self):
        return len(self.row_splits) - 1

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                raise IndexError("Ragged supports only contiguous slices")
            splits = self.row_splits[start:stop + 1]
            return Ragged(self.values[splits[0]:splits[-1]], splits - splits[0])
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"row {i} out of range for {n} rows")
        return self.values[self.row_splits[i]:self.row_splits[i + 1]]

    def __iter__(self):
        for i in range(len(self)):
            yield self.values[self.row_splits[i]:self.row_splits[i + 1]]

    def tolist(self) -> list:
        return [row.tolist() for row in self]

    def __eq__(self, other):
        return (isinstance(other, Ragged) and np.array_equal(self.row_splits, other.row_splits)
                and np.array_equal(self.values, other.values))

    def __repr__(self):
        return f"Ragged({len(self)} rows, {len(self.values)} values of {self.values.dtype})"
