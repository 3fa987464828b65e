"""Tensors held in node attributes, decoded into numpy on demand."""

from __future__ import annotations

import numpy as np

from tfforge.graph import dtypes


def to_numpy(decoded: dict) -> np.ndarray:
    """A numpy array from the dict GraphDef.tensor() returns (tensor_content or typed *_val fields,
    the latter repeating the last value to fill the shape, as TensorFlow does)."""
    dtype = decoded["dtype"]
    shape = decoded["shape"] or ()
    count = int(np.prod(shape)) if shape else 1
    np_type = dtypes.to_numpy(dtype)
    if "content" in decoded:
        return np.frombuffer(decoded["content"], dtype=np_type).reshape(shape).copy()
    field = dtypes.VALUE_FIELD.get(dtype % 100)
    values = decoded["values"].get(field, []) if field else []
    if dtype % 100 in (19, 14):  # half_val holds the 16-bit patterns
        flat = np.array(values, dtype=np.uint16).view(np_type)
    elif dtype % 100 in (8, 18):  # complex: (real, imag) pairs
        flat = np.array(values, dtype=np.float32 if dtype % 100 == 8 else np.float64).view(np_type)
    elif np_type is np.object_:
        flat = np.empty(len(values), dtype=object)
        flat[:] = values
    else:
        flat = np.array(values, dtype=np_type)
    if flat.size == count:
        return flat.reshape(shape)
    out = np.empty(count, dtype=np_type) if np_type is np.object_ else np.zeros(count, dtype=np_type)
    if flat.size:
        out[: flat.size] = flat
        out[flat.size:] = flat[-1]
    elif np_type is np.object_:
        out[:] = b""
    return out.reshape(shape)


class Tensor:
    """A tensor attribute of a node; the bytes are read from the graph only when asked for."""

    def __init__(self, native_graph, node: str, key: str):
        self._g, self._node, self._key = native_graph, node, key
        self._decoded = None

    def _load(self) -> dict:
        if self._decoded is None:
            self._decoded = self._g.tensor(self._node, self._key)
        return self._decoded

    @property
    def dtype(self) -> str:
        return dtypes.name(self._load()["dtype"])

    @property
    def shape(self):
        return self._load()["shape"]

    def numpy(self) -> np.ndarray:
        return to_numpy(self._load())

    def __repr__(self) -> str:
        return f"Tensor(node={self._node!r}, attr={self._key!r})"
