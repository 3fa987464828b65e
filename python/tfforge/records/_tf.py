"""Lazy TensorFlow import: the parts of tfforge that work without TensorFlow import it only here."""

from __future__ import annotations

from tfforge.errors import TensorFlowNotInstalled


def import_tensorflow():
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise TensorFlowNotInstalled(
            f"this feature needs TensorFlow, which is not importable ({exc}); pip install 'tfforge[tensorflow]'") from None
    return tf
