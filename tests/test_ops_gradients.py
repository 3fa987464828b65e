"""Gradients of the fused ops: registered with tf.RegisterGradient and backed by the Grad ops, checked
against numeric gradients (tf.test.compute_gradient) and against the built-in compositions' gradients."""

import numpy as np
import pytest

from _ops_cases import DTYPES, rand, reference, testing, tf, tfops

CASES = {
    "layer_norm": (lambda x, p: tfops.layer_norm(x, p[0], p[1], 1e-3),
                   lambda x, p: reference.layer_norm(x, p[0], p[1], 1e-3), 2),
    "rms_norm": (lambda x, p: tfops.rms_norm(x, p[0], 1e-6), lambda x, p: reference.rms_norm(x, p[0], 1e-6), 1),
    "bias_gelu": (lambda x, p: tfops.bias_gelu(x, p[0]), lambda x, p: reference.bias_gelu(x, p[0]), 1),
    "bias_gelu_tanh": (lambda x, p: tfops.bias_gelu(x, p[0], True),
                       lambda x, p: reference.bias_gelu(x, p[0], True), 1),
}


def _split(fn, nparams):
    """fn(x, [params]) as a function of separate tensors, the form tfforge.testing takes."""
    return lambda x, *p: fn(x, list(p[:nparams]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_numeric(name):
    fused, _, nparams = CASES[name]
    x = rand((3, 9), 1)
    params = [rand((9,), 2 + i) for i in range(nparams)]
    testing.check_gradients(_split(fused, nparams), [x] + params, delta=1e-2, tol=5e-3)


@pytest.mark.parametrize("shape", [(16, 64), (2, 3, 1000), (5,)])
@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_builtin_composition(name, shape):
    fused, builtin, nparams = CASES[name]
    x = rand(shape, 3)
    params = [rand(shape[-1:], 4 + i) for i in range(nparams)]
    rows = int(np.prod(shape[:-1]))
    # dgamma/dbeta/dbias sum over rows, so their float32 rounding grows with the row count (tfforge.testing
    # scales each limit by the gradient's magnitude, at least 1).
    tol = [1e-5] + [1e-5 * max(4, rows)] * nparams
    testing.check_gradients_match(_split(fused, nparams), _split(builtin, nparams), [x] + params, tol=tol)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_half_precision_gradients(name, dtype):
    fused, builtin, nparams = CASES[name]
    dt = DTYPES[dtype]
    x = tf.cast(rand((8, 40), 5), dt)
    params = [tf.cast(rand((40,), 6 + i), dt) for i in range(nparams)]
    errors = testing.check_gradients_match(_split(fused, nparams), _split(builtin, nparams), [x] + params)
    assert len(errors) == 1 + nparams


def test_layer_norm_statistics_outputs_are_differentiable():
    x, g, b = rand((4, 12), 20), rand((12,), 21), rand((12,), 22)
    lib = tfops.load_library()

    def f(x):
        _, mean, inv_std = lib.tfforge_layer_norm(x, g, b, epsilon=1e-3)
        return mean * 2.0 + inv_std

    theoretical, numeric = tf.test.compute_gradient(f, [tf.constant(x)], delta=1e-2)
    assert np.max(np.abs(theoretical[0] - numeric[0])) < 5e-3


def test_gradient_uses_the_grad_ops():
    @tf.function
    def step(x, g, b):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tfops.layer_norm(x, g, b) + tfops.rms_norm(x, g) + tfops.bias_gelu(x, b)
        return tape.gradient(y, x)

    x, g = tf.constant(rand((2, 8), 1)), tf.constant(rand((8,), 2))
    graph = step.get_concrete_function(x, g, g).graph
    types = {op.type for op in graph.get_operations()}
    assert {"TfforgeLayerNormGrad", "TfforgeRMSNormGrad", "TfforgeBiasGeluGrad"} <= types


def test_unused_statistics_add_no_work_to_the_gradient():
    # With an unknown batch the tape passes run-time zeros for the unused mean/inv_std outputs;
    # the gradient must recognize them and stay the single Grad op.
    @tf.function(input_signature=[tf.TensorSpec([None, 8])])
    def grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tfops.layer_norm(x, tf.ones([8]), tf.zeros([8]))
        return tape.gradient(y, x)

    types = [op.type for op in grad.get_concrete_function().graph.get_operations()]
    assert types.count("TfforgeLayerNormGrad") == 1
    assert not {"Pow", "Sub", "RealDiv", "Mul"} & set(types)
