"""Under jit_compile=True (XLA cannot compile custom ops) the wrappers fall back to the built-in
composition with a one-time RuntimeWarning, instead of an XLA compilation error."""

import pytest

from _ops_cases import keras, rand, reference, testing, tf, tfops
from tfforge.ops import fused


@pytest.mark.parametrize("name", ["layer_norm", "rms_norm", "bias_gelu"])
def test_jit_compile_falls_back_with_warning(name):
    x, g = rand((4, 16), 1), rand((16,), 2)
    call = {"layer_norm": lambda x: tfops.layer_norm(x, g, g), "rms_norm": lambda x: tfops.rms_norm(x, g),
            "bias_gelu": lambda x: tfops.bias_gelu(x, g)}[name]
    ref = {"layer_norm": lambda x: reference.layer_norm(x, g, g), "rms_norm": lambda x: reference.rms_norm(x, g),
           "bias_gelu": lambda x: reference.bias_gelu(x, g)}[name]
    fused._warned_xla.discard(name)
    with pytest.warns(RuntimeWarning, match="XLA"):
        tf.function(call, jit_compile=True)(tf.constant(x))
    testing.check_xla(call, ref, [x], custom_op_prefix="Tfforge", tol=1e-5)


def test_plain_tf_function_uses_the_fused_op():
    @tf.function
    def f(x):
        return tfops.layer_norm(x, tf.ones([8]), tf.zeros([8]))

    types = {op.type for op in f.get_concrete_function(tf.TensorSpec([None, 8])).graph.get_operations()}
    assert "TfforgeLayerNorm" in types


def test_keras_model_compiled_with_jit_trains():
    import tfforge.keras as tk

    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(1)(tk.LayerNormalization()(tk.DenseGELU(8)(inputs))))
    model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    model.fit(rand((16, 6), 1), rand((16, 1), 2), epochs=1, verbose=0)
