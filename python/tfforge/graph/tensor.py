"""Tensors held in node attributes, decoded into numpy on demand (numpy is imported only then)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from tfforge.errors import GraphError
from tfforge.graph import dtypes

if TYPE_CHECKING:
    import numpy as np

# A tensor stored as a few typed values but a huge shape (TensorFlow repeats the last value) is not
# expanded past this many bytes of array: a tiny graph must not make numpy() allocate gigabytes.
MAX_EXPANDED_BYTES = 1 << 30
# What one element of a string tensor costs at least: the array's pointer and an empty bytes object.
_OBJECT_ELEMENT_BYTES = 8 + 33


def to_numpy(decoded: dict, max_bytes: int = MAX_EXPANDED_BYTES) -> np.ndarray:
    """A numpy array from the dict GraphDef.tensor() returns (tensor_content or typed *_val fields,
    the latter repeating the last value to fill the shape, as TensorFlow does). Raises GraphError
    when the shape is invalid or expanding the values would take more than `max_bytes`."""
    import numpy as np
    dtype = decoded["dtype"]
    shape = tuple(decoded["shape"] or ())
    count = math.prod(shape)  # Python ints: no overflow on absurd shapes
    np_type = dtypes.to_numpy(dtype)
    if any(d < 0 for d in shape):
        raise GraphError(f"tensor has an unknown or negative dimension in its shape {shape}")
    itemsize = _OBJECT_ELEMENT_BYTES if np_type is np.object_ else np.dtype(np_type).itemsize
    if "content" not in decoded and count * itemsize > max_bytes:
        raise GraphError(f"tensor of shape {shape} ({dtypes.name(dtype)}) would expand to {count * itemsize} bytes "
                         f"from {sum(len(v) for v in decoded.get('values', {}).values())} stored values, more than "
                         f"the {max_bytes}-byte limit (pass max_bytes= to numpy() to raise it)")
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
        """'DT_FLOAT' style name."""
        return dtypes.name(self._g.tensor_info(self._node, self._key)[0])

    @property
    def shape(self):
        """Tuple of dimensions, None for unknown rank."""
        return self._g.tensor_info(self._node, self._key)[1]

    @property
    def nbytes(self) -> int:
        """Bytes of payload the tensor holds in the graph (tensor_content or typed values)."""
        return self._g.tensor_info(self._node, self._key)[2]

    def numpy(self, max_bytes: int = MAX_EXPANDED_BYTES) -> np.ndarray:
        """The tensor as a numpy array. A tensor stored as a few values repeated over a large shape is
        expanded only up to `max_bytes` of array (GraphError beyond)."""
        decoded = self._load()
        try:
            return to_numpy(decoded, max_bytes)
        except GraphError as exc:
            raise GraphError(f"tensor attribute '{self._key}': {exc.message}", node=self._node) from None
        except ValueError as exc:  # content size does not match dtype x shape
            raise GraphError(f"tensor attribute '{self._key}' does not hold its shape's worth of data: {exc}",
                             node=self._node) from None

    def __repr__(self) -> str:
        return f"Tensor(node={self._node!r}, attr={self._key!r})"
