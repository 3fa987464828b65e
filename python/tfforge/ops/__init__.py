"""tfforge's TensorFlow custom ops. Importing this module loads _ops.so and registers the ops, so a
SavedModel that uses them loads after ``import tfforge.ops``."""

from tfforge.ops._loader import load_library, registered_ops

_lib = load_library()


def crc32c(data, masked: bool = False, name=None):
    """CRC32C of every string in ``data`` (int64 tensor of the same shape); ``masked=True`` gives the
    masked form TFRecord framing stores."""
    return _lib.tfforge_crc32c(data, masked=masked, name=name)


__all__ = ["crc32c", "load_library", "registered_ops"]
