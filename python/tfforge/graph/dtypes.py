"""TensorFlow DataType numbers <-> numpy dtypes, without importing TensorFlow (numpy itself is imported
only by the functions that return or take numpy types: the graph commands never need it)."""

from __future__ import annotations

import functools

from tfforge import _native
from tfforge.errors import GraphError

# numpy's name for each DataType's value type (quantized types share their storage type); DT_STRING
# maps to numpy's object type.
_NUMPY_NAMES = {
    1: "float32", 2: "float64", 3: "int32", 4: "uint8", 5: "int16", 6: "int8", 8: "complex64", 9: "int64",
    10: "bool", 11: "int8", 12: "uint8", 13: "int32", 15: "int16", 16: "uint16", 17: "uint16",
    18: "complex128", 19: "float16", 22: "uint32", 23: "uint64",
}

# The TensorProto field that holds typed values for each dtype when tensor_content is not used.
VALUE_FIELD = {
    1: "float_val", 2: "double_val", 3: "int_val", 4: "int_val", 5: "int_val", 6: "int_val", 7: "string_val",
    8: "scomplex_val", 9: "int64_val", 10: "bool_val", 11: "int_val", 12: "int_val", 13: "int_val",
    14: "half_val", 15: "int_val", 16: "int_val", 17: "int_val", 18: "dcomplex_val", 19: "half_val",
    22: "uint32_val", 23: "uint64_val",
}


def name(dtype: int) -> str:
    """'DT_FLOAT' for 1; 'DT_<n>' for numbers the schema does not know."""
    return _native.dtype_name(int(dtype)) or f"DT_{int(dtype)}"


def short_name(dtype: int) -> str:
    """'float32' style name for a DataType number (the DT_ name lower-cased when numpy has none)."""
    short = _NUMPY_NAMES.get(int(dtype) % 100)
    if short is not None:
        return short
    n = name(dtype)
    return n[3:].lower() if n.startswith("DT_") else n


def number(dtype_name: str) -> int:
    """1 for 'DT_FLOAT'; GraphError for unknown names and for values that are not a type name (an
    attribute that should hold a type but holds an int, a list, ...)."""
    if not isinstance(dtype_name, str):
        raise GraphError(f"expected a DataType, found {type(dtype_name).__name__} {dtype_name!r}")
    v = _native.dtype_number(dtype_name)
    if v is None:
        raise GraphError(f"unknown DataType name {dtype_name!r}")
    return v


@functools.lru_cache(maxsize=None)
def _numpy_tables():
    import numpy as np
    to_np = {k: getattr(np, "bool_" if v == "bool" else v) for k, v in _NUMPY_NAMES.items()}
    to_np[7] = np.object_
    from_np = {np.dtype(v): k for k, v in to_np.items() if k not in (11, 12, 13, 15, 16, 7)}
    return to_np, from_np


def to_numpy(dtype: int, strict: bool = True):
    dtype = int(dtype) % 100  # *_REF types share the value type
    if dtype == 14:
        try:
            import ml_dtypes
            return ml_dtypes.bfloat16
        except ImportError:
            if strict:
                raise GraphError("bfloat16 tensors need the ml_dtypes package") from None
            return None
    t = _numpy_tables()[0].get(dtype)
    if t is None and strict:
        raise GraphError(f"tensors of {name(dtype)} have no numpy equivalent")
    return t


def from_numpy(dtype) -> int:
    import numpy as np
    dt = np.dtype(dtype)
    if dt.name == "bfloat16":
        return 14
    if dt.kind in ("S", "U", "O"):
        return 7
    try:
        return _numpy_tables()[1][dt]
    except KeyError:
        raise GraphError(f"numpy dtype {dt} has no TensorFlow DataType") from None
