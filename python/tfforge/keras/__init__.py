"""Keras 3 layers backed by tfforge's fused ops (TensorFlow backend).

- :class:`LayerNormalization`: drop-in for ``keras.layers.LayerNormalization`` (same arguments, weight
  names ``gamma``/``beta`` and shapes, so weights move either way); fused when normalizing over the last
  axis only, the Keras computation otherwise.
- :class:`RMSNormalization`: drop-in for ``keras.layers.RMSNormalization`` (weight ``scale``).
- :class:`DenseGELU`: ``keras.layers.Dense`` followed by GELU, with the bias add and GELU fused.

All are registered serializable (package ``tfforge``), so ``.keras`` files round-trip once
``tfforge.keras`` is imported.
"""

from tfforge.keras.layers import DenseGELU, LayerNormalization, RMSNormalization

__all__ = ["DenseGELU", "LayerNormalization", "RMSNormalization"]
