"""Keras layers over tfforge.ops (see the package docstring)."""

from __future__ import annotations

from tfforge import _tf

tf = _tf.tf()
keras = _tf.keras()

from tfforge import ops as tfops  # noqa: E402


def _require_tensorflow_backend(layer: str) -> None:
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"tfforge.keras.{layer} runs tfforge's TensorFlow ops and needs the Keras TensorFlow "
                           f"backend (KERAS_BACKEND=tensorflow); the active backend is {keras.backend.backend()!r}")


def _normalizes_last_axis_only(axis, ndim: int) -> bool:
    axes = [axis] if isinstance(axis, int) else list(axis)
    return [a % ndim for a in axes] == [ndim - 1]


def _fusable_dtype(x) -> bool:
    return x.dtype in (tf.float32, tf.float16, tf.bfloat16)


@keras.saving.register_keras_serializable(package="tfforge")
class LayerNormalization(keras.layers.LayerNormalization):
    """``keras.layers.LayerNormalization`` computed by ``tfforge.ops.layer_norm`` when it normalizes
    over the last axis (the default), with the same arguments, config and weights."""

    def __init__(self, *args, **kwargs):
        _require_tensorflow_backend("LayerNormalization")
        super().__init__(*args, **kwargs)

    def call(self, inputs):
        x = tf.convert_to_tensor(inputs)
        if (getattr(self, "rms_scaling", False) or x.shape.rank is None
                or not _normalizes_last_axis_only(self.axis, x.shape.rank) or not _fusable_dtype(x)):
            return super().call(inputs)
        depth = tf.shape(x)[-1:]
        gamma = tf.cast(self.gamma, x.dtype) if self.scale else tf.ones(depth, x.dtype)
        beta = tf.cast(self.beta, x.dtype) if self.center else tf.zeros(depth, x.dtype)
        y = tfops.layer_norm(x, gamma, beta, epsilon=self.epsilon)
        return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="tfforge")
class RMSNormalization(keras.layers.RMSNormalization):
    """``keras.layers.RMSNormalization`` computed by ``tfforge.ops.rms_norm`` over the last axis."""

    def __init__(self, *args, **kwargs):
        _require_tensorflow_backend("RMSNormalization")
        super().__init__(*args, **kwargs)

    def call(self, x):
        x = tf.convert_to_tensor(x)
        if x.shape.rank is None or not _normalizes_last_axis_only(self.axis, x.shape.rank) or not _fusable_dtype(x):
            return super().call(x)
        y = tfops.rms_norm(x, tf.cast(self.scale, x.dtype), epsilon=self.epsilon)
        return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="tfforge")
class DenseGELU(keras.layers.Dense):
    """``Dense(units, activation="gelu")`` with the bias add and GELU fused into one op
    (``approximate=True`` for the tanh form). Weights are Dense's ``kernel`` and ``bias``."""

    def __init__(self, units, approximate: bool = False, **kwargs):
        _require_tensorflow_backend("DenseGELU")
        activation = kwargs.pop("activation", None)
        if activation not in (None, "linear"):
            raise ValueError(f"DenseGELU applies GELU itself; activation={activation!r} is not supported")
        super().__init__(units, activation=None, **kwargs)
        self.approximate = bool(approximate)

    def call(self, inputs, training=None):
        y = keras.ops.matmul(inputs, self.kernel)
        if self.bias is None:
            return tf.nn.gelu(y, approximate=self.approximate)
        return tfops.bias_gelu(y, tf.cast(self.bias, y.dtype), approximate=self.approximate)

    def get_config(self):
        config = super().get_config()
        config.pop("activation", None)
        config["approximate"] = self.approximate
        return config
