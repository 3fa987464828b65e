"""tfforge's TensorFlow custom ops. Importing this module loads _ops.so and registers the ops (and
their gradients), so a SavedModel that uses them loads after ``import tfforge.ops``.

Fused ops: :func:`layer_norm`, :func:`rms_norm`, :func:`bias_gelu` (CPU and CUDA, float32/float16/
bfloat16, with gradients), :func:`attention` (CPU, float32, with a gradient); :mod:`tfforge.ops.reference` holds the built-in compositions they replace.
"""

from tfforge.ops._loader import load_library, registered_ops

_lib = load_library()

from tfforge.ops.fused import attention, bias_gelu, in_xla_context, layer_norm, rms_norm  # noqa: E402
from tfforge.ops.saved_model import (  # noqa: E402
    annotate_saved_model, load_saved_model, required_ops, save_saved_model)


def crc32c(data, masked: bool = False, name=None):
    """CRC32C of every string in ``data`` (int64 tensor of the same shape); ``masked=True`` gives the
    masked form TFRecord framing stores."""
    return _lib.tfforge_crc32c(data, masked=masked, name=name)


__all__ = ["annotate_saved_model", "attention", "bias_gelu", "crc32c", "in_xla_context", "layer_norm", "load_library",
           "load_saved_model", "registered_ops", "required_ops", "rms_norm", "save_saved_model"]
