"""TFRecord I/O at native speed. Works without TensorFlow installed."""

from tfforge._native import crc32c, masked_crc32c

__all__ = ["crc32c", "masked_crc32c"]
