"""Behaviour under tf.function(jit_compile=True), where XLA cannot compile a custom op."""

from __future__ import annotations

import warnings

from tfforge._tf import import_tensorflow
from tfforge.testing.values import assert_close


def check_xla(op, reference, inputs, custom_op_prefix: str | None = None, tol: float | None = None) -> set[str]:
    """Runs ``op`` (forward and gradient) inside tf.function(jit_compile=True) and checks that it gives the
    reference's values instead of an XLA compilation error: a custom op's wrapper has to fall back to a
    composition XLA can compile. With ``custom_op_prefix``, also checks that no op of that type is left
    in the compiled graph. Returns the op types of the compiled graph."""
    tf = import_tensorflow()
    inputs = [tf.convert_to_tensor(t) for t in inputs]

    @tf.function(jit_compile=True)
    def step(*args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = tf.nest.flatten(op(*args))
            loss = tf.add_n([tf.reduce_sum(tf.cast(t, tf.float32)) for t in y])
        return y, tape.gradient(loss, args)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the wrapper's "falls back under XLA" notice
        try:
            got, grads = step(*inputs)
        except (tf.errors.InvalidArgumentError, tf.errors.UnimplementedError, tf.errors.NotFoundError) as exc:
            raise AssertionError(f"the op fails under jit_compile=True instead of falling back: "
                                 f"{str(exc).splitlines()[0]}") from None
    for i, (g, w) in enumerate(zip(got, tf.nest.flatten(reference(*inputs)))):
        assert_close(g, w, tol=tol, what=f"output {i} under jit_compile=True")
    if any(g is None for g in grads):
        raise AssertionError("under jit_compile=True an input gets no gradient")
    types = {o.type for o in step.get_concrete_function(*inputs).graph.get_operations()}
    if custom_op_prefix:
        left = sorted(t for t in types if t.startswith(custom_op_prefix))
        if left:
            raise AssertionError(f"custom ops left in the XLA-compiled graph: {', '.join(left)}")
    return types
