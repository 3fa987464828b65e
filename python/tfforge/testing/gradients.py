"""Gradients: against numeric differences (tf.test.compute_gradient) and against a reference's."""

from __future__ import annotations

import numpy as np

from tfforge._tf import import_tensorflow
from tfforge.testing.values import TOLERANCE, _name, max_error, random

# Central differences in float32 with this step are good to a few 1e-3 for unit-scale functions.
NUMERIC = {"float64": (1e-4, 1e-6), "float32": (1e-2, 5e-3)}


def check_gradients(op, inputs, delta: float | None = None, tol: float | None = None) -> list[float]:
    """Compares the registered gradient of ``op`` with numeric differences, for every input (float32 or
    float64; the op's outputs are summed with fixed random weights, so every output is checked).
    Returns the max error per input."""
    tf = import_tensorflow()
    inputs = [tf.convert_to_tensor(t) for t in inputs]
    name = _name(inputs[0].dtype)
    if name not in NUMERIC:
        raise ValueError(f"numeric gradients need float32 or float64 inputs, got {name}")
    default_delta, default_tol = NUMERIC[name]
    outputs = tf.nest.flatten(op(*inputs))
    weights = [random(o.shape, o.dtype, seed=100 + i) for i, o in enumerate(outputs)]

    def weighted(*args):
        return tf.add_n([tf.reduce_sum(o * w) for o, w in zip(tf.nest.flatten(op(*args)), weights)])

    theoretical, numeric = tf.test.compute_gradient(weighted, inputs, delta=delta or default_delta)
    errors = []
    for i, (t, n) in enumerate(zip(theoretical, numeric)):
        limit = (tol or default_tol) * max(1.0, float(np.max(np.abs(n), initial=0.0)))
        err = float(np.max(np.abs(t - n), initial=0.0))
        if not err <= limit:
            raise AssertionError(f"gradient of input {i}: max abs error {err:.3g} against numeric differences "
                                 f"exceeds {limit:.3g}")
        errors.append(err)
    return errors


def _tape_gradients(fn, inputs, dys):
    tf = import_tensorflow()
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = tf.nest.flatten(fn(*inputs))
        loss = tf.add_n([tf.reduce_sum(tf.cast(o, tf.float32) * dy) for o, dy in zip(outputs, dys)])
    return tape.gradient(loss, inputs)


def check_gradients_match(op, reference, inputs, tol=None, seed: int = 0) -> list[float]:
    """Compares the gradients of ``op`` with those of ``reference`` for the same upstream gradient.
    Low-precision inputs go to the reference as float32. ``tol``: one number, or one per input (sums
    over rows, e.g. a bias gradient, round more than elementwise ones); default: the input dtype's
    tolerance scaled by the gradient's magnitude. Returns the max error per input."""
    tf = import_tensorflow()
    inputs = [tf.convert_to_tensor(t) for t in inputs]
    dys = [random(o.shape, tf.float32, seed=seed + 1 + i) for i, o in enumerate(tf.nest.flatten(op(*inputs)))]
    ours = _tape_gradients(op, inputs, dys)
    wide = [tf.cast(t, tf.float32) if t.dtype in (tf.float16, tf.bfloat16) else t for t in inputs]
    ref = _tape_gradients(reference, wide, dys)
    errors = []
    for i, (a, b) in enumerate(zip(ours, ref)):
        if (a is None) != (b is None):
            raise AssertionError(f"gradient of input {i}: op gives {a is not None and 'one' or 'none'}, "
                                 f"reference gives {b is not None and 'one' or 'none'}")
        if a is None:
            errors.append(0.0)
            continue
        scale = max(1.0, float(np.max(np.abs(np.asarray(b, np.float64)), initial=0.0)))
        limit_i = tol[i] if isinstance(tol, (list, tuple)) else tol
        dtype = _name(inputs[i].dtype)
        # Gradients go through a backward pass: a few roundings of the dtype, not one.
        limit = limit_i * scale if limit_i is not None else 8 * TOLERANCE.get(dtype, 1e-5) * scale
        err = max_error(a, b)
        if not err <= limit:
            raise AssertionError(f"gradient of input {i} ({dtype}): max abs error {err:.3g} against the "
                                 f"reference's exceeds {limit:.3g}")
        errors.append(err)
    return errors
