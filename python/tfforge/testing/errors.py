"""Bad inputs: a clear error naming the problem, eagerly and when shapes are unknown until run time."""

from __future__ import annotations

import re

from tfforge._tf import import_tensorflow


def check_bad_inputs(op, cases, graph: bool = True) -> list[str]:
    """For each ``(inputs, pattern)`` in ``cases``, checks that ``op(*inputs)`` raises InvalidArgumentError,
    ValueError or TypeError whose message matches the regex ``pattern`` (no crash, no silent result),
    eagerly and, with ``graph``, inside a tf.function whose input shapes are all unknown (so the
    kernel's run-time checks are reached, not only the shape function). Returns the messages."""
    tf = import_tensorflow()
    expected = (tf.errors.InvalidArgumentError, ValueError, TypeError)
    messages = []
    for inputs, pattern in cases:
        inputs = [tf.convert_to_tensor(t) for t in inputs]
        runs = [("eagerly", op)]
        if graph:
            specs = [tf.TensorSpec(None, t.dtype) for t in inputs]
            runs.append(("with unknown shapes", tf.function(op, input_signature=specs)))
        for how, fn in runs:
            try:
                fn(*inputs)
            except expected as exc:
                text = str(exc)
                if not re.search(pattern, text):
                    raise AssertionError(f"{how}: error {text.splitlines()[0] if text else type(exc).__name__!r} "
                                         f"does not match {pattern!r}") from None
                messages.append(text)
            else:
                raise AssertionError(f"{how}: inputs of shapes {[tuple(t.shape) for t in inputs]} gave a result "
                                     f"instead of an error matching {pattern!r}")
    return messages
