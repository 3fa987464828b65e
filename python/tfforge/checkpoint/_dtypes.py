"""TensorFlow DataType numbers (tensorflow/core/framework/types.proto) <-> names <-> numpy dtypes.

bfloat16, the float8 kinds and int4/uint4 come from ml_dtypes (a numpy extension TensorFlow and JAX
use); the quantized kinds read as their storage integers. Strings and variants read as object arrays
of bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tfforge.errors import CheckpointError

if TYPE_CHECKING:
    import numpy as np

STRING, VARIANT = 7, 21

# number: (name, numpy dtype name or None when it comes from ml_dtypes, ml_dtypes attribute)
_TABLE = {
    1: ("float32", "float32"), 2: ("float64", "float64"), 3: ("int32", "int32"), 4: ("uint8", "uint8"),
    5: ("int16", "int16"), 6: ("int8", "int8"), 7: ("string", "object"), 8: ("complex64", "complex64"),
    9: ("int64", "int64"), 10: ("bool", "bool"), 11: ("qint8", "int8"), 12: ("quint8", "uint8"),
    13: ("qint32", "int32"), 14: ("bfloat16", "ml:bfloat16"), 15: ("qint16", "int16"), 16: ("quint16", "uint16"),
    17: ("uint16", "uint16"), 18: ("complex128", "complex128"), 19: ("float16", "float16"), 21: ("variant", "object"),
    22: ("uint32", "uint32"), 23: ("uint64", "uint64"), 24: ("float8_e5m2", "ml:float8_e5m2"),
    25: ("float8_e4m3fn", "ml:float8_e4m3fn"), 26: ("float8_e4m3fnuz", "ml:float8_e4m3fnuz"),
    27: ("float8_e4m3b11fnuz", "ml:float8_e4m3b11fnuz"), 28: ("float8_e5m2fnuz", "ml:float8_e5m2fnuz"),
    29: ("int4", "ml:int4"), 30: ("uint4", "ml:uint4"), 31: ("int2", "ml:int2"), 32: ("uint2", "ml:uint2"),
}
_BY_NAME = {name: number for number, (name, _) in _TABLE.items()}
FLOATING = {"float16", "bfloat16", "float32", "float64"}


def name(number: int) -> str:
    return _TABLE[number][0] if number in _TABLE else f"dtype{number}"


def number(dtype_name: str) -> int:
    if dtype_name not in _BY_NAME:
        raise CheckpointError(f"unknown dtype {dtype_name!r}; known: {', '.join(sorted(_BY_NAME))}")
    return _BY_NAME[dtype_name]


def to_numpy(number: int) -> np.dtype:
    import numpy as np
    if number not in _TABLE:
        raise CheckpointError(f"checkpoint dtype {number} has no numpy equivalent")
    tf_name, np_name = _TABLE[number]
    if not np_name.startswith("ml:"):
        return np.dtype(np_name)
    try:
        import ml_dtypes
    except ImportError:
        raise CheckpointError(f"{tf_name} tensors need the ml_dtypes package (pip install ml_dtypes)") from None
    if not hasattr(ml_dtypes, np_name[3:]):
        raise CheckpointError(f"{tf_name} needs a newer ml_dtypes than {ml_dtypes.__version__}")
    return np.dtype(getattr(ml_dtypes, np_name[3:]))


def from_numpy(dtype: np.dtype) -> int:
    """The DataType number a numpy array is written as (object and bytes arrays: DT_STRING)."""
    import numpy as np
    dtype = np.dtype(dtype)
    if dtype.kind in "OSU":
        return STRING
    for num, (_, np_name) in _TABLE.items():
        if num in (11, 12, 13, 15, 16, STRING, VARIANT):  # quantized kinds share numpy dtypes with plain ints
            continue
        if np_name.removeprefix("ml:") == dtype.name:
            return num
    raise CheckpointError(f"numpy dtype {dtype} has no TensorFlow checkpoint equivalent")
