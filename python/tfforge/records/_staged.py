"""Shared by the distributed writers (Spark, Ray): workers encode their part of the data into hidden
staged files beside the prefix; the driver, once every task has succeeded, renames them to numbered
shards and writes the spec last (records._commit), or removes them when the job failed. Also the
Arrow mapping of spec features that the distributed readers produce."""

from __future__ import annotations

import glob
import json
import os
import secrets

from tfforge import _native
from tfforge.errors import SpecError
from tfforge.records import _columns, _commit
from tfforge.records.raw import path_arg
from tfforge.records.spec import Feature, Spec
from tfforge.records.writer import _EXTENSION, _SpecBuilder, shard_name


def staging_prefix(prefix: str) -> tuple[str, str]:
    """(absolute prefix, a new staging name beside it); creates the folder, removes dead runs' temps."""
    prefix = os.path.abspath(path_arg(prefix))
    folder, name = os.path.split(prefix)
    if not name:
        raise SpecError(f"the prefix must end in a dataset name (e.g. out/train), not {prefix!r}")
    _commit.make_folder(folder)
    _commit.remove_stale_temps(prefix)
    return prefix, os.path.join(folder, f".{name}.staged-{secrets.token_hex(8)}")


def encode(path: str, batches, compression: str, level: int, spec: dict | None) -> dict:
    """Worker side: Arrow batches -> one file at ``path`` (written under a temporary name, renamed when
    complete, removed on failure). Returns what the driver needs: path, records, features."""
    given = Spec.coerce(spec)
    path += _EXTENSION[compression]
    out = _native.FileWriter(path, "" if compression == "none" else compression, level, True)
    builder = _SpecBuilder(None)
    try:
        for batch in batches:
            prepared = _columns.prepare(batch, given)
            if not prepared.rows:
                continue
            builder.add(prepared.features, prepared.untyped)
            _native.write_batch(prepared.native, [(out, 0, prepared.rows)], 1)
        out.commit()
    except BaseException:
        out.abort()
        raise
    features = {n: dict(f.to_json(), untyped=n in builder.untyped) for n, f in builder.features.items()}
    return {"path": path, "records": out.records, "features": json.dumps(features)}


class _Staged:
    """A staged shard, as records._commit.commit_dataset publishes it."""

    def __init__(self, path: str):
        self.path = path

    def commit(self, final: str) -> None:
        os.replace(self.path, final)


def publish(prefix: str, results: list, compression: str, spec: Spec | None, metadata: dict) -> list[str]:
    """Driver side: ``results`` (encode()'s, in shard order: path, records and, without ``spec``, the
    features each part found) become the dataset at ``prefix``."""
    builder = _SpecBuilder(spec)
    for r in results if spec is None else ():  # with a spec, the results need not carry features
        feats = json.loads(r["features"])
        if feats:  # an empty part says nothing about the columns
            builder.add({n: Feature.from_json(n, {k: v for k, v in f.items() if k != "untyped"})
                         for n, f in feats.items()}, {n for n, f in feats.items() if f["untyped"]})
    n = len(results)
    paths = [shard_name(prefix, i, n, compression) for i in range(n)]
    meta = {"records": sum(r["records"] for r in results), "shards": [os.path.basename(p) for p in paths],
            "compression": compression, **metadata}
    _commit.commit_dataset(prefix, [_Staged(r["path"]) for r in results], paths, builder.spec(meta).to_json())
    return paths


def remove_staged(staging: str) -> None:
    """Removes what a job left staged (all of it after a failure; losing duplicate attempts after success)."""
    for leftover in glob.glob(glob.escape(staging) + "-*"):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass


def arrow_table(batch):
    """A source batch (Arrow table or record batch, pandas DataFrame, dict of columns) as an Arrow table."""
    import pyarrow as pa

    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    if isinstance(batch, pa.Table):
        return batch
    if type(batch).__module__.startswith("pandas"):
        return pa.Table.from_pandas(batch, preserve_index=False)
    return pa.table({k: list(v) if getattr(v, "ndim", 1) > 1 else v for k, v in batch.items()})


def arrow_type(name: str, f: Feature):
    """The Arrow type of a feature's column: scalars as values, 1-D and variable length as lists."""
    import pyarrow as pa

    if not f.plain or (f.shape is not None and len(f.shape) > 1):
        raise SpecError(f"feature {name!r}: only scalars, 1-D fixed shapes and variable-length lists map to "
                        "table columns")
    if f.kind == "bytes":
        value = pa.string() if f.dtype == "str" else pa.binary()
    elif f.kind == "float":
        value = pa.float64() if f.dtype == "float64" else pa.float32()
    else:
        value = {"int8": pa.int8(), "int16": pa.int16(), "int32": pa.int32(), "bool": pa.bool_()}.get(
            f.dtype, pa.int64())
    return value if f.shape == () else pa.list_(value)


def arrow_schema(spec: Spec):
    import pyarrow as pa

    return pa.schema([(n, arrow_type(n, spec[n])) for n in spec])


def _arrow_column(col, typ):
    import numpy as np
    import pyarrow as pa

    from tfforge.records.ragged import Ragged

    if isinstance(col, Ragged):
        values, splits = col.values, np.asarray(col.row_splits, np.int32)
    elif pa.types.is_list(typ):
        width = col.shape[1] if col.ndim > 1 else 1
        values, splits = col.reshape(-1), np.arange(col.shape[0] + 1, dtype=np.int32) * width
    else:
        return pa.array(col.tolist() if col.dtype == object else col, typ)
    flat = pa.array(values.tolist() if values.dtype == object else values, typ.value_type)
    return pa.ListArray.from_arrays(pa.array(splits), flat)


def read_tables(paths: list, spec: Spec, batch_size: int):
    """Worker side of the distributed readers: Arrow tables of the files' records (native decoder)."""
    import pyarrow as pa

    from tfforge.records.reader import read

    schema = arrow_schema(spec)
    for path in paths:
        for cols in read(path, spec=spec, batch_size=batch_size, workers=1):  # the engine runs tasks in parallel
            yield pa.Table.from_arrays([_arrow_column(cols[n], schema.field(n).type) for n in spec], schema=schema)
