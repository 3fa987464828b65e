"""A Keras layer running {{Name}}: a learned bias over the last axis, then the op."""

from __future__ import annotations

import keras

from {{name}}.ops import {{name}}


@keras.saving.register_keras_serializable(package="{{name}}")
class {{Name}}(keras.layers.Layer):
    """y = {{name}}(x, bias), with ``bias`` a weight as long as the input's last axis
    (zeros at first)."""

    def __init__(self, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer=self.bias_initializer)

    def call(self, x):
        return {{name}}(x, keras.ops.cast(self.bias, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "bias_initializer": keras.initializers.serialize(self.bias_initializer)}
