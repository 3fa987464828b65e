"""Hugging Face ``datasets`` as a records source: a ``Dataset`` (in memory or memory-mapped Arrow) or a
``save_to_disk`` folder, streamed as Arrow record batches into the native encoder.

Features map to the spec: Value -> int64 / float / bytes, ClassLabel -> int64 (the class names go into
the spec's metadata under ``class_names``), Image and Audio -> their encoded bytes (read from the
stored path when the bytes were not embedded), Sequence / List -> variable length (ragged; a fixed
``length`` gives a fixed shape; a list of lists a nested ragged feature).

Needs the ``datasets`` package only to open a saved folder; no TensorFlow.
"""

from __future__ import annotations

import json
import os

from tfforge.errors import SpecError, TfforgeError

BATCH_ROWS = 8192
_ENCODED = ("Image", "Audio")  # struct<bytes, path> columns written as their encoded bytes


def is_dataset(obj) -> bool:
    """True for a datasets.Dataset / DatasetDict (checked without importing ``datasets``)."""
    return type(obj).__module__.startswith("datasets.") and type(obj).__name__ in ("Dataset", "DatasetDict")


def is_saved_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "dataset_info.json")) or os.path.isfile(
        os.path.join(path, "dataset_dict.json"))


def _feature_types(features) -> dict:
    """{column: the ``_type`` of its datasets feature} from a Features object's JSON form."""
    return {name: (f.get("_type") if isinstance(f, dict) else "list") for name, f in features.to_dict().items()}


def _encoded_bytes(name: str, column):
    """A struct<bytes, path> column (Image, Audio) -> a binary column of the encoded file contents."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    data = column.field("bytes")
    if not data.null_count:
        return data
    paths = column.field("path").to_pylist()
    out = data.to_pylist()
    for i, b in enumerate(out):
        if b is None:
            if paths[i] is None:
                raise SpecError(f"feature {name!r}: row {i} of a batch has neither bytes nor a path")
            try:
                with open(paths[i], "rb") as f:
                    out[i] = f.read()
            except OSError as exc:
                raise TfforgeError(f"feature {name!r}: cannot read the file: {exc.strerror or exc}",
                                   path=paths[i]) from None
    return pa.array(out, pa.binary())


def _mapped(table, types: dict):
    """A batch with Image/Audio columns replaced by their bytes (other columns as they are)."""
    encoded = [n for n, t in types.items() if t in _ENCODED]
    for name in encoded:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, _encoded_bytes(name, table.column(name)))
    return table


def _unsupported(types: dict) -> list:
    return [f"{n} ({t})" for n, t in types.items() if t not in
            ("Value", "ClassLabel", "Sequence", "List", "LargeList", "list", "Image", "Audio")]


def source(ds, batch_rows: int = BATCH_ROWS):
    """(batches, rows, metadata) of a datasets.Dataset: an iterator of Arrow tables of up to
    ``batch_rows`` rows with features mapped for the encoder, the row count, and what the spec records
    about the source (class names of ClassLabel columns)."""
    if type(ds).__name__ == "DatasetDict":
        raise SpecError(f"a DatasetDict holds several splits ({', '.join(ds)}); write one, e.g. ds['{next(iter(ds))}']")
    types = _feature_types(ds.features)
    bad = _unsupported(types)
    if bad:
        raise SpecError(f"features of these types cannot be written as Examples: {', '.join(bad)}")
    meta = {"source": "huggingface datasets"}
    names = {n: f.names for n, f in ds.features.items() if type(f).__name__ == "ClassLabel"}
    if names:
        meta["class_names"] = names
    tables = (_mapped(t, types) for t in ds.with_format("arrow").iter(batch_size=batch_rows))
    return tables, len(ds), meta


def load_folder(path: str):
    """A ``save_to_disk`` folder as a datasets.Dataset (memory-mapped, nothing read up front)."""
    if os.path.isfile(os.path.join(path, "dataset_dict.json")):
        with open(os.path.join(path, "dataset_dict.json")) as f:
            splits = json.load(f).get("splits", [])
        raise SpecError(f"a saved DatasetDict; convert one split's folder ({', '.join(splits)})", path=path)
    try:
        import datasets
    except ImportError:
        raise TfforgeError("saved Hugging Face datasets need the datasets package: pip install datasets "
                           "(or, from tfforge's source directory: pip install --no-build-isolation '.[hf]')") from None
    return datasets.load_from_disk(path)
