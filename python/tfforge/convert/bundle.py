"""Reads tensors of a TensorFlow checkpoint (tensor bundle: prefix.index + prefix.data-*)."""

from __future__ import annotations

import numpy as np

from tfforge.convert.frozen import contiguous as _contiguous

from tfforge.errors import ConversionError


class Bundle:
    def __init__(self, prefix: str):
        from tensorflow.python.training import py_checkpoint_reader
        from tfforge.convert._tf import tf
        tf()
        self.prefix = prefix
        try:
            self._reader = py_checkpoint_reader.NewCheckpointReader(prefix)
        except Exception as exc:
            raise ConversionError(f"cannot read checkpoint: {exc}", path=prefix) from None
        self._shapes = self._reader.get_variable_to_shape_map()
        self._dtypes = self._reader.get_variable_to_dtype_map()

    def __contains__(self, key: str) -> bool:
        return key in self._shapes

    def keys(self):
        return sorted(self._shapes)

    def shape(self, key):
        return tuple(self._shapes[key])

    def dtype(self, key):
        return self._dtypes[key]

    def get(self, key: str) -> np.ndarray:
        return _contiguous(self._reader.get_tensor(key))


def open_bundle(prefix: str) -> Bundle:
    return Bundle(prefix)
