"""Ray Data to and from TFRecord shards with tfforge's native encoder and decoder on the workers (no
TensorFlow anywhere, unlike ``Dataset.write_tfrecords``):

    ds.write_datasink(tfforge.records.ray.Sink("/data/out/train", compression="gzip"))
    ds2 = ray.data.read_datasource(tfforge.records.ray.Source("/data/out/train"))

The prefix must be on a file system every worker sees under the same path. Each write task stages its
blocks in one hidden file (written under a temporary name and renamed when complete); when the job has
succeeded the driver renames them to ``{prefix}-0000i-of-0000N.tfrecord[.gz]`` in task order and writes
the spec last, replacing any earlier dataset; a failed job removes what it staged.
"""

from __future__ import annotations

import os
import secrets

try:
    from ray.data import Datasink, Datasource, ReadTask
    from ray.data.block import BlockMetadata
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"tfforge.records.ray needs Ray Data: pip install 'ray[data]' (or, from tfforge's source "
                      f"directory: pip install --no-build-isolation '.[ray]') ({exc})") from None

from tfforge.errors import TfforgeError
from tfforge.records import _staged
from tfforge.records.spec import Spec
from tfforge.records.writer import _int_arg, normalize_compression


class Sink(Datasink):
    """Writes a Ray Dataset as tfforge shards + spec (one shard per write task)."""

    def __init__(self, prefix, *, compression=None, spec=None, level: int = -1, metadata: dict | None = None):
        self.compression = normalize_compression(compression)
        self.level = _int_arg("level", level, -1, 9)
        given = Spec.coerce(spec)
        self._spec = given.to_json() if given else None
        self._metadata = dict(metadata or {})
        self.prefix, self._staging = _staged.staging_prefix(prefix)
        self.paths: list[str] = []

    def write(self, blocks, ctx) -> dict:
        import pyarrow as pa

        tables = (b if isinstance(b, pa.Table) else pa.Table.from_pandas(b, preserve_index=False) for b in blocks)
        path = f"{self._staging}-{ctx.task_idx:05d}-{secrets.token_hex(4)}"
        return dict(_staged.encode(path, tables, self.compression, self.level, self._spec), task=ctx.task_idx)

    def on_write_complete(self, write_result) -> None:
        try:
            results = sorted(write_result.write_returns, key=lambda r: r["task"])
            self.paths = _staged.publish(self.prefix, results, self.compression, Spec.coerce(self._spec),
                                         {"source": "ray", **self._metadata})
        finally:
            _staged.remove_staged(self._staging)

    def on_write_failed(self, error: Exception) -> None:
        _staged.remove_staged(self._staging)

    def get_name(self) -> str:
        return "TfforgeRecords"


class Source(Datasource):
    """Reads tfforge / TFRecord shards (a prefix, glob or list of files) as a Ray Dataset of Arrow blocks;
    the schema comes from the spec (see records.read). One read task per file, or groups of files when
    there are more files than the requested parallelism."""

    def __init__(self, paths, *, spec=None, batch_size: int = 4096):
        from tfforge.records.reader import find_spec, infer_spec, resolve_paths

        self.paths = resolve_paths(paths)
        self.spec = Spec.coerce(spec) or find_spec(self.paths) or infer_spec(self.paths[0])
        self.batch_size = _int_arg("batch_size", batch_size, 1)
        self.schema = _staged.arrow_schema(self.spec)

    def estimate_inmemory_data_size(self) -> int:
        return sum(os.path.getsize(p) for p in self.paths)

    def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None) -> list:
        groups = max(1, min(parallelism, len(self.paths)))
        spec_json, batch_size = self.spec.to_json(), self.batch_size
        tasks = []
        for g in range(groups):
            files = self.paths[g::groups]

            def read_fn(files=files):
                return _staged.read_tables(files, Spec.coerce(spec_json), batch_size)

            meta = BlockMetadata(num_rows=None, size_bytes=sum(os.path.getsize(p) for p in files),
                                 input_files=files, exec_stats=None)
            tasks.append(ReadTask(read_fn, meta, schema=self.schema, per_task_row_limit=per_task_row_limit))
        return tasks

    def get_name(self) -> str:
        return "TfforgeRecords"


def convert(src, prefix, *, shards: int | None = None, compression=None, spec=None) -> list[str]:
    """records.convert on Ray (``tfforge records convert --runner ray``, joins ``ray.init()``'s cluster):
    Parquet and CSV are read by the workers; other sources (records.open_source) by this process."""
    import ray

    from tfforge.records.sources import open_source

    path = os.fspath(src)
    lower = path.lower().rstrip("/")
    if lower.endswith((".parquet", ".pq")):
        ds = ray.data.read_parquet(path)
    elif lower.endswith(".csv"):
        ds = ray.data.read_csv(path)
    else:
        ds = ray.data.from_arrow([_staged.arrow_table(b) for b in open_source(path).batches])
    if shards is not None:
        ds = ds.repartition(_int_arg("shards", shards, 1, 99999))
    sink = Sink(prefix, compression=compression, spec=spec)
    try:
        ds.write_datasink(sink)
    except Exception as exc:  # a worker's tfforge error, without Ray's traces around it
        cause = getattr(exc, "cause", None)
        if isinstance(cause, TfforgeError):
            raise cause from None
        raise
    return sink.paths
