"""Shape functions (unknown dims and ranks, mismatched parameters rejected), run-time argument checks
(InvalidArgument, never a crash), empty tensors, and use inside tf.function and tf.data."""

import numpy as np
import pytest

from _ops_cases import max_err, rand, reference, testing, tf, tfops

lib = tfops.load_library()


def _static_shapes(fn, *specs):
    return [t.shape for t in tf.nest.flatten(tf.function(fn).get_concrete_function(*specs).structured_outputs)]


def test_layer_norm_shape_function_unknown_dims_and_rank():
    spec = tf.TensorSpec
    op = lambda x, g, b: lib.tfforge_layer_norm(x, g, b)  # noqa: E731
    x, g = rand((2, 7, 16), 1), rand((16,), 2)
    testing.check_shape_function(op, [spec([None, 7, None]), spec([16]), spec([None])], [x, g, g],
                                 expected=[[None, 7, 16], [None, 7], [None, 7]])
    testing.check_shape_function(op, [spec(None), spec([16]), spec([16])], [x, g, g], expected=[None, None, None])


def test_grad_shape_functions():
    spec = tf.TensorSpec
    shapes = _static_shapes(lambda dy, x, g, m, r: lib.tfforge_layer_norm_grad(dy, x, g, m, r),
                            spec([4, None]), spec([None, 9]), spec([None]), spec([None]), spec([None]))
    assert [s.as_list() for s in shapes] == [[4, 9], [9], [9]]
    shapes = _static_shapes(lambda dy, x, g: lib.tfforge_rms_norm_grad(dy, x, g), spec(None), spec([2, 3, 5]), spec([None]))
    assert [s.as_list() for s in shapes] == [[2, 3, 5], [5]]
    shapes = _static_shapes(lambda dy, x, b: lib.tfforge_bias_gelu_grad(dy, x, b), spec([None, 6]), spec(None), spec(None))
    assert [s.as_list() for s in shapes] == [[None, 6], [6]]


@pytest.mark.parametrize("call", [
    lambda x, p: lib.tfforge_layer_norm(x, p, tf.zeros([8])),
    lambda x, p: lib.tfforge_layer_norm(x, tf.zeros([8]), p),
    lambda x, p: lib.tfforge_rms_norm(x, p),
    lambda x, p: lib.tfforge_bias_gelu(x, p),
])
def test_shape_function_rejects_mismatched_parameters(call):
    @tf.function(input_signature=[tf.TensorSpec([None, 8]), tf.TensorSpec([5])])
    def f(x, p):
        return call(x, p)

    with pytest.raises(ValueError, match="Dimensions must be equal|must be equal"):
        f.get_concrete_function()


def test_shape_function_rejects_rank_0_and_matrix_gamma():
    with pytest.raises(ValueError):
        tf.function(lambda x: lib.tfforge_rms_norm(x, tf.ones([1]))).get_concrete_function(tf.TensorSpec([]))
    with pytest.raises(ValueError):
        tf.function(lambda g: lib.tfforge_rms_norm(tf.ones([2, 3]), g)).get_concrete_function(tf.TensorSpec([1, 3]))


BAD_INPUTS = [
    (lib.tfforge_layer_norm, (tf.ones([2, 8]), tf.ones([7]), tf.ones([8])), "gamma must be a vector of length 8"),
    (lib.tfforge_layer_norm, (tf.constant(1.0), tf.ones([1]), tf.ones([1])), "rank >= 1"),
    (lib.tfforge_rms_norm, (tf.ones([3, 4]), tf.ones([2, 2])), "gamma must be a vector of length 4"),
    (lib.tfforge_bias_gelu, (tf.ones([3, 4]), tf.ones([5])), "bias must be a vector of length 4"),
    (lib.tfforge_layer_norm_grad, (tf.ones([2, 8]), tf.ones([2, 8]), tf.ones([8]), tf.ones([3]), tf.ones([2])),
     "mean must have shape"),
    (lib.tfforge_layer_norm_grad, (tf.ones([2, 9]), tf.ones([2, 8]), tf.ones([8]), tf.ones([2]), tf.ones([2])),
     "must have the same shape"),
    (lib.tfforge_rms_norm_grad, (tf.ones([2, 8]), tf.ones([2, 8]), tf.ones([9])), "gamma must be a vector"),
    (lib.tfforge_bias_gelu_grad, (tf.ones([1, 8]), tf.ones([2, 8]), tf.ones([8])), "must have the same shape"),
]


@pytest.mark.parametrize("op, inputs, pattern", BAD_INPUTS)
def test_kernels_return_invalid_argument(op, inputs, pattern):
    # Eagerly and with every shape unknown until run time, so the kernels' own checks answer.
    messages = testing.check_bad_inputs(lambda *t: op(*t), [(inputs, pattern)])
    assert all(m.count("Tfforge") >= 1 for m in messages)


def test_unsupported_dtype_is_rejected():
    with pytest.raises((TypeError, tf.errors.InvalidArgumentError, tf.errors.NotFoundError)):
        tfops.layer_norm(tf.ones([2, 3], tf.float64), tf.ones([3], tf.float64), tf.ones([3], tf.float64))


@pytest.mark.parametrize("shape", [(0, 8), (3, 0), (0,), (2, 0, 4)])
def test_empty_tensors(shape):
    x = tf.zeros(shape)
    g = tf.ones(shape[-1:])
    for fn in (lambda x: tfops.layer_norm(x, g, g), lambda x: tfops.rms_norm(x, g), lambda x: tfops.bias_gelu(x, g)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        assert y.shape == shape
        assert tape.gradient(y, x).shape == shape


def test_unknown_batch_in_tf_function():
    g, b = rand((10,), 1), rand((10,), 2)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 10])])
    def f(x):
        return tfops.layer_norm(x, g, b), tfops.rms_norm(x, g), tfops.bias_gelu(x, b)

    assert [o.shape.as_list() for o in f.get_concrete_function().structured_outputs] == [[None, None, 10]] * 3
    for batch in (1, 5):
        x = rand((batch, 3, 10), batch)
        ln, _, _ = f(x)
        assert max_err(ln, reference.layer_norm(x, g, b)) <= 1e-5


def test_in_tf_data_map():
    g, b = rand((6,), 1), rand((6,), 2)
    data = rand((12, 6), 3)
    ds = tf.data.Dataset.from_tensor_slices(data).batch(4).map(lambda x: tfops.bias_gelu(tfops.layer_norm(x, g, b), b))
    got = np.concatenate([np.asarray(t) for t in ds])
    assert max_err(got, tf.nn.gelu(reference.layer_norm(data, g, b) + b)) <= 1e-5


def test_in_place_on_dead_intermediates():
    # Inside a graph an intermediate used only by the op can lend it its buffer (CPU runs in place).
    g, b = rand((300,), 1), rand((300,), 2)

    @tf.function
    def f(x):
        return tfops.bias_gelu(tfops.rms_norm(tfops.layer_norm(x * 1.5, g, b) + 1.0, g), b)

    x = rand((64, 300), 3)
    ref = reference.bias_gelu(reference.rms_norm(reference.layer_norm(x * 1.5, g, b) + 1.0, g), b)
    assert max_err(f(x), ref) <= 2e-5
