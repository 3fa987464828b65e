"""The shape function against run-time shapes, with unknown dimensions and ranks."""

from __future__ import annotations

from tfforge._tf import import_tensorflow
from tfforge.testing.values import max_error


def check_shape_function(op, specs, inputs, expected=None) -> list:
    """Traces ``op`` with ``specs`` (tf.TensorSpec, dims may be None, shape None for unknown rank) and
    checks that every static output shape is compatible with the shape the op returns for ``inputs``
    (which must fit the specs), that the traced function computes what the eager op does, and, when
    given, that the static shapes equal ``expected`` (lists with None, or None for unknown rank).
    Returns the static shapes."""
    tf = import_tensorflow()
    inputs = [tf.convert_to_tensor(t) for t in inputs]
    fn = tf.function(op)
    concrete = fn.get_concrete_function(*specs)
    static = [t.shape for t in tf.nest.flatten(concrete.structured_outputs)]
    eager = tf.nest.flatten(op(*inputs))
    traced = tf.nest.flatten(concrete(*inputs))
    if len(static) != len(eager):
        raise AssertionError(f"traced op has {len(static)} outputs, eager op {len(eager)}")
    for i, (s, e, t) in enumerate(zip(static, eager, traced)):
        if not s.is_compatible_with(e.shape):
            raise AssertionError(f"output {i}: the shape function says {s} but the op returned shape {e.shape}")
        if t.shape != e.shape or max_error(t, e) != 0.0:
            raise AssertionError(f"output {i}: the traced op returned a different result than the eager op")
    if expected is not None:
        got = [s.as_list() if s.rank is not None else None for s in static]
        if got != list(expected):
            raise AssertionError(f"static shapes {got} differ from the expected {list(expected)}")
    return static
