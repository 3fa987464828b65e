"""TFRecord I/O at native speed: write, read, count and verify tf.train.Example datasets.

Works without TensorFlow installed; only ``Spec.to_tf()`` imports it.
"""

from tfforge._native import crc32c, masked_crc32c
from tfforge.records.ragged import Ragged
from tfforge.records.raw import RandomReader, RawIterator, iter_raw
from tfforge.records.sparse import SparseTriple
from tfforge.records.sources import convert, open_source
from tfforge.records.reader import VerifyReport, count, head, infer_spec, read, resolve_paths, verify
from tfforge.records.spec import Feature, Spec, spec
from tfforge.records.writer import Writer, shard_name, write

__all__ = [
    "Feature", "Ragged", "RandomReader", "RawIterator", "Spec", "SparseTriple", "VerifyReport", "Writer", "convert",
    "count", "crc32c", "head", "infer_spec", "iter_raw", "masked_crc32c", "open_source", "read", "resolve_paths",
    "shard_name", "spec", "verify", "write",
]
