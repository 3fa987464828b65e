"""``spark.read.format("tfrecord")``: tfforge shards as a PySpark (4.x) Python data source, decoded by the
native decoder on the executors into Arrow batches. Registered by ``tfforge.records.spark.register``;
imported only then, as it needs ``pyspark.sql.datasource``."""

from __future__ import annotations

import os

from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition

from tfforge.errors import SpecError
from tfforge.records import _staged


class _Shard(InputPartition):
    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


class TFRecordSource(DataSource):
    """Options: ``path`` (the ``load()`` argument: a dataset prefix, a shard, a glob), ``spec`` (a spec
    file, else the dataset's), ``batchSize`` (rows per Arrow batch, default 4096). One partition per file,
    in file order; the schema comes from the spec."""

    @classmethod
    def name(cls) -> str:
        return "tfrecord"

    def _spec(self):
        from tfforge.records.reader import find_spec, resolve_paths
        from tfforge.records.spec import load

        path = self.options.get("path")
        if not path:
            raise SpecError('spark.read.format("tfrecord") needs a path: .load(prefix)')
        paths = resolve_paths(os.path.abspath(path))
        spec = load(self.options["spec"]) if self.options.get("spec") else find_spec(paths)
        if spec is None:
            raise SpecError("no spec file beside the shards; give one with .option('spec', path)", path=path)
        return paths, spec

    def schema(self):
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(_staged.arrow_schema(self._spec()[1]))

    def reader(self, schema):
        paths, spec = self._spec()
        batch_size = int(self.options.get("batchSize", 4096))
        if batch_size < 1:
            raise SpecError(f"batchSize must be at least 1, not {batch_size}")
        return _Reader(paths, spec.to_json(), batch_size)


class _Reader(DataSourceReader):
    def __init__(self, paths: list, spec: dict, batch_size: int):
        self.paths, self.spec, self.batch_size = paths, spec, batch_size

    def partitions(self):
        return [_Shard(p) for p in self.paths]

    def read(self, partition):
        from tfforge.records.spec import Spec

        for table in _staged.read_tables([partition.path], Spec.coerce(self.spec), self.batch_size):
            yield from table.to_batches()
