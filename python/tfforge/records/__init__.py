"""TFRecord I/O at native speed: write, read, count and verify tf.train.Example datasets.

Works without TensorFlow installed; only ``Spec.to_tf()`` imports it. The names below are imported on
first use, so counting and verifying files (tfforge.records.files) imports neither numpy nor the
readers and writers.
"""

import importlib

# numpy-free and imported now: `spec` (the function) must shadow the submodule of the same name
from tfforge.records.spec import Feature, Spec, spec

_WHERE = {
    "crc32c": "tfforge._native", "masked_crc32c": "tfforge._native",
    "Ragged": "tfforge.records.ragged",
    "RandomReader": "tfforge.records.raw", "RawIterator": "tfforge.records.raw", "iter_raw": "tfforge.records.raw",
    "SparseTriple": "tfforge.records.sparse",
    "convert": "tfforge.records.sources", "open_source": "tfforge.records.sources",
    "VerifyReport": "tfforge.records.files", "count": "tfforge.records.files",
    "resolve_paths": "tfforge.records.files", "verify": "tfforge.records.files",
    "head": "tfforge.records.reader", "infer_spec": "tfforge.records.reader", "read": "tfforge.records.reader",
    "dataset": "tfforge.records.tf_dataset", "parse_batch": "tfforge.records.tf_dataset",
    "Writer": "tfforge.records.writer", "shard_name": "tfforge.records.writer", "write": "tfforge.records.writer",
}

__all__ = sorted([*_WHERE, "Feature", "Spec", "spec"])


def __getattr__(name):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'tfforge.records' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
