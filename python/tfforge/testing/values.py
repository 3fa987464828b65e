"""Values against a reference function, over shapes and dtypes, with tolerances set by the dtype."""

from __future__ import annotations

import numpy as np

from tfforge._tf import import_tensorflow

# Max abs error against a float32 reference on unit-scale outputs: the output dtype's rounding for |y| <= ~4
# (float16: 10-bit mantissa, bfloat16: 7-bit), a little more than float32's for float32 itself.
TOLERANCE = {"float64": 1e-12, "float32": 1e-5, "float16": 4e-3, "bfloat16": 3.2e-2}


def _name(dtype) -> str:
    return import_tensorflow().as_dtype(dtype).name


def tolerance(dtype, scale: float = 1.0) -> float:
    """Allowed max abs error for outputs of ``dtype`` whose magnitude reaches ``scale`` (at least 1)."""
    name = _name(dtype)
    if name not in TOLERANCE:
        raise ValueError(f"no tolerance for dtype {name}; pass one explicitly")
    return TOLERANCE[name] * max(1.0, float(scale))


def random(shape, dtype="float32", seed: int = 0, scale: float = 1.0, offset: float = 0.0):
    """Normal random tensor of ``shape`` and ``dtype`` (drawn in float32, then cast), reproducible by seed."""
    tf = import_tensorflow()
    rng = np.random.default_rng(seed)
    return tf.cast((rng.standard_normal(shape) * scale + offset).astype(np.float32), dtype)


def _numpy64(t) -> np.ndarray:
    tf = import_tensorflow()
    t = tf.convert_to_tensor(t)
    return np.asarray(t if t.dtype == tf.float64 else tf.cast(t, tf.float32), np.float64)


def max_error(actual, expected) -> float:
    """Max abs difference, over finite expected values; NaN/Inf must appear in the same places."""
    a, e = _numpy64(actual), _numpy64(expected)
    if a.shape != e.shape:
        raise AssertionError(f"shape {a.shape} differs from the reference's {e.shape}")
    if not (np.array_equal(np.isnan(a), np.isnan(e)) and np.array_equal(np.isposinf(a), np.isposinf(e))
            and np.array_equal(np.isneginf(a), np.isneginf(e))):
        raise AssertionError("NaN/Inf positions differ from the reference's")
    finite = np.isfinite(e)
    return float(np.max(np.abs(a[finite] - e[finite]), initial=0.0))


def assert_close(actual, expected, dtype=None, tol: float | None = None, relative: bool = True, what: str = ""):
    """Asserts max_error(actual, expected) <= tol (default: tolerance(dtype of actual), scaled by the
    reference's magnitude when ``relative``); returns the error."""
    tf = import_tensorflow()
    dtype = dtype or tf.convert_to_tensor(actual).dtype
    e = _numpy64(expected)
    scale = float(np.max(np.abs(e[np.isfinite(e)]), initial=1.0)) if relative else 1.0
    limit = tol * max(1.0, scale) if tol is not None else tolerance(dtype, scale)
    err = max_error(actual, expected)
    if not err <= limit:
        prefix = f"{what}: " if what else ""
        raise AssertionError(f"{prefix}max abs error {err:.3g} exceeds {limit:.3g} ({_name(dtype)})")
    return err


def _as_float32(t):
    tf = import_tensorflow()
    t = tf.convert_to_tensor(t)
    return tf.cast(t, tf.float32) if t.dtype in (tf.float16, tf.bfloat16) else t


def check_values(op, reference, shapes, dtypes=("float32",), make_inputs=None, tol: dict | float | None = None,
                 relative: bool = True, seed: int = 0) -> list[dict]:
    """Runs ``op(*inputs)`` and ``reference(*inputs)`` for every shape and dtype and compares every
    output. Low-precision inputs are given to the reference cast to float32 (the same rounded values),
    so the error measures the op alone. ``make_inputs(shape, dtype, seed)`` returns the inputs (default:
    one random tensor). Returns one row per case: shape, dtype, error, limit."""
    tf = import_tensorflow()
    make_inputs = make_inputs or (lambda shape, dtype, seed: (random(shape, dtype, seed),))
    rows = []
    for shape in shapes:
        for dtype in dtypes:
            inputs = tuple(make_inputs(tuple(shape), dtype, seed))
            got = tf.nest.flatten(op(*inputs))
            want = tf.nest.flatten(reference(*[_as_float32(t) for t in inputs]))
            if len(got) != len(want):
                raise AssertionError(f"shape {tuple(shape)} {dtype}: op gives {len(got)} outputs, "
                                     f"reference {len(want)}")
            for i, (g, w) in enumerate(zip(got, want)):
                if tuple(g.shape) != tuple(w.shape):
                    raise AssertionError(f"shape {tuple(shape)} {dtype}: output {i} has shape {tuple(g.shape)}, "
                                         f"the reference's is {tuple(w.shape)}")
                limit = tol.get(_name(dtype)) if isinstance(tol, dict) else tol
                err = assert_close(g, w, dtype=g.dtype, tol=limit, relative=relative,
                                   what=f"shape {tuple(shape)} {dtype} output {i}")
                rows.append({"shape": tuple(shape), "dtype": _name(dtype), "output": i, "error": err})
    return rows
