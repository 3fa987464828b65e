"""Imports TensorFlow (and Keras) on first use, quietly, with one clear error when it is missing."""

from __future__ import annotations

import os


def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfforge.ops._loader import import_tensorflow
    module = import_tensorflow()
    module.get_logger().setLevel("ERROR")
    return module


def keras():
    tf()
    import keras as module
    return module


def load_tfforge_ops() -> bool:
    """Registers tfforge's custom ops so graphs that use them load; False when the op library is absent."""
    try:
        import tfforge.ops  # noqa: F401  (registers the ops)
    except Exception:  # a build without _ops.so still converts graphs that do not use them
        return False
    try:
        import tfforge.keras  # noqa: F401  (registers tfforge's Keras layers as serializable)
    except ImportError:
        pass
    return True
