"""Sparse columns: what tf.io.VarLenFeature and tf.io.SparseFeature parse into, as numpy."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SparseTriple(NamedTuple):
    """A sparse tensor as numpy: ``indices`` (nnz, rank) int64, ``values`` (nnz,), ``dense_shape`` (rank,).

    The first index column is the row. ``write`` takes one for a varlen or sparse feature; ``read``
    returns one for them. ``to_dense()`` fills the rest with a default.
    """

    indices: np.ndarray
    values: np.ndarray
    dense_shape: np.ndarray

    @classmethod
    def coerce(cls, obj) -> "SparseTriple":
        """From a SparseTriple, an (indices, values, dense_shape) tuple or a tf.SparseTensor."""
        if hasattr(obj, "indices") and hasattr(obj, "dense_shape"):
            parts = (obj.indices, obj.values, obj.dense_shape)
        else:
            parts = tuple(obj)
        indices, values, shape = (np.asarray(p) for p in parts)
        return cls(indices.astype(np.int64).reshape(len(values), -1) if indices.size or len(values) else
                   np.zeros((0, len(shape)), np.int64), values, shape.astype(np.int64))

    def to_dense(self, default=0) -> np.ndarray:
        dtype = object if self.values.dtype.kind in "OSU" else self.values.dtype
        out = np.full(tuple(int(d) for d in self.dense_shape), default, dtype=dtype)
        if len(self.values):
            out[tuple(self.indices.T)] = self.values
        return out

    def to_tf(self):
        from tfforge._tf import import_tensorflow

        tf = import_tensorflow()
        return tf.sparse.SparseTensor(self.indices, self.values, self.dense_shape)
