"""Apache Spark DataFrames to and from TFRecord shards, encoded and decoded by tfforge's native code on
the executors (Arrow batches through ``mapInArrow``): no JVM connector, no TensorFlow anywhere.

    from tfforge.records import spark as tfspark
    tfspark.write(df, "/data/out/train", shards=64, compression="gzip")
    df2 = tfspark.read(spark, "/data/out/train")
    tfspark.register(spark)                                   # pyspark 4: a Python data source
    df3 = spark.read.format("tfrecord").load("/data/out/train")

The prefix must be on a file system that the driver and every executor see under the same path (local
disk in local mode, NFS, a FUSE mount). Each task writes its partition to a hidden staging file (itself
written under a temporary name and renamed when complete, so a failed task leaves nothing); when the
job has succeeded the driver renames the staged files to ``{prefix}-00000-of-0000N.tfrecord[.gz]``
(shard i is partition i) and writes the spec last, replacing any earlier dataset at the prefix. A
failed job removes what it staged and leaves an earlier dataset at the prefix as it was.

A write is one Spark job (a ``mapInArrow`` whose tasks return one small row each); the spec comes
from the DataFrame's schema on the driver before the job starts, so a column that cannot be stored
fails at once, and every task encodes against the same spec.
"""

from __future__ import annotations

import os
import re

from tfforge.errors import SpecError
from tfforge.records import _staged
from tfforge.records.raw import path_arg
from tfforge.records.spec import Feature, Spec
from tfforge.records.writer import _int_arg, normalize_compression

_RESULT_SCHEMA = "shard int, attempt int, path string, records long"


class _EncodePartition:
    """Executor side of write(): one partition's Arrow batches -> one staged shard file."""

    def __init__(self, staging: str, compression: str, level: int, spec: dict | None):
        self.staging, self.compression, self.level, self.spec = staging, compression, level, spec

    def __call__(self, batches):
        import pyarrow as pa
        from pyspark import TaskContext

        ctx = TaskContext.get()
        shard, attempt = ctx.partitionId(), ctx.attemptNumber()
        span = [0, 0]  # the partition's rows in the batch being encoded: [first, last + 1)

        def counted():
            for batch in batches:
                span[:] = [span[1], span[1] + batch.num_rows]
                yield batch

        try:
            r = _staged.encode(f"{self.staging}-{shard:05d}-a{attempt}", counted(), self.compression, self.level,
                               self.spec)
        except SpecError as exc:  # where in the DataFrame: the encoder's row numbers count from the batch's start
            raise SpecError(f"partition {shard}, the batch of its rows {span[0]}-{span[1] - 1}: {exc}") from None
        row = {"shard": shard, "attempt": attempt, "path": r["path"], "records": r["records"]}
        yield pa.RecordBatch.from_pylist([row], schema=pa.schema(
            [("shard", pa.int32()), ("attempt", pa.int32()), ("path", pa.string()), ("records", pa.int64())]))


# Spark column types -> (Example kind, spec dtype): what the encoder infers from the Arrow batches.
_SCALAR_TYPES = (("LongType", "int64", "int64"), ("IntegerType", "int64", "int32"), ("ShortType", "int64", "int16"),
                 ("ByteType", "int64", "int8"), ("BooleanType", "int64", "bool"), ("FloatType", "float", "float32"),
                 ("DoubleType", "float", "float64"), ("StringType", "bytes", "str"), ("BinaryType", "bytes", "bytes"))


def _scalar_feature(dt):
    from pyspark.sql import types as T

    for cls, kind, dtype in _SCALAR_TYPES:
        if isinstance(dt, getattr(T, cls)):
            return kind, dtype
    return None


def spec_of_schema(schema) -> Spec:
    """The spec write() gives a DataFrame of this schema (a ``StructType``) when no spec is passed:
    scalars as fixed features of shape [], arrays as variable-length features, dtypes as Spark's."""
    from pyspark.sql import types as T

    seen: set = set()
    features = {}
    for field in schema.fields:
        if field.name in seen:
            raise SpecError(f"the DataFrame has two columns named {field.name!r}; rename one before writing")
        seen.add(field.name)
        dt, shape = field.dataType, ()
        if isinstance(dt, T.ArrayType):
            dt, shape = dt.elementType, None
        found = _scalar_feature(dt)
        if found is None:
            raise SpecError(f"column {field.name!r}: Spark type {field.dataType.simpleString()} cannot be stored in an "
                            "Example (numbers, booleans, strings, binary and arrays of them can)")
        features[field.name] = Feature(found[0], shape, found[1])
    return Spec(features)


_WORKER_ERROR = re.compile(r"^tfforge\.errors\.(\w+): (.*)$", re.M)


def _worker_error(exc: Exception) -> Exception:
    """The tfforge error an executor raised (Spark reports it as text inside a PythonException)."""
    import tfforge.errors

    found = _WORKER_ERROR.findall(str(exc))
    cls = getattr(tfforge.errors, found[-1][0], None) if found else None
    if cls is None or not (isinstance(cls, type) and issubclass(cls, tfforge.errors.TfforgeError)):
        return exc
    return cls(f"a Spark task failed: {found[-1][1]}")


def write(df, prefix, *, shards: int | None = None, compression=None, spec=None, level: int = -1,
          metadata: dict | None = None) -> list[str]:
    """Writes a Spark DataFrame as ``{prefix}-0000i-of-0000N.tfrecord[.gz|.zz]`` + ``{prefix}.spec.json``;
    returns the shard paths. ``shards``: repartition to this many (default: the DataFrame's partitions,
    one shard each). Column types: numbers, booleans, strings, binary, and arrays of them (variable
    length; a ``spec`` can fix shapes and dtypes); without a ``spec`` the schema gives it
    (:func:`spec_of_schema`)."""
    compression = normalize_compression(compression)
    level = _int_arg("level", level, -1, 9)
    given = Spec.coerce(spec)
    if given is None:
        given = spec_of_schema(df.schema)
    elif set(given) != set(df.columns):  # what every task would find: refused before the job starts
        raise SpecError(f"the DataFrame's columns {df.columns} and the spec's features {list(given)} differ")
    if shards is not None:
        df = df.repartition(_int_arg("shards", shards, 1, 99999))
    prefix, staging = _staged.staging_prefix(prefix)
    encode = _EncodePartition(staging, compression, level, given.to_json())
    try:
        try:
            results = [r.asDict() for r in df.mapInArrow(encode, _RESULT_SCHEMA).collect()]
        except Exception as exc:  # a worker's tfforge error, as one line instead of Spark's JVM and Python traces
            raise _worker_error(exc) from None
        by_shard = {r["shard"]: r for r in sorted(results, key=lambda r: r["attempt"])}
        if sorted(by_shard) != list(range(len(by_shard))):
            raise SpecError(f"Spark returned results for partitions {sorted(by_shard)}, expected 0..{len(by_shard) - 1}")
        return _staged.publish(prefix, [by_shard[i] for i in range(len(by_shard))], compression, given,
                               {"source": "spark", **(metadata or {})})
    finally:  # whatever is still staged (a failed job, a losing duplicate attempt) goes
        _staged.remove_staged(staging)


class _DecodeShards:
    """Executor side of read(): shard paths -> Arrow batches decoded by the native decoder."""

    def __init__(self, spec: dict, batch_size: int):
        self.spec, self.batch_size = spec, batch_size

    def __call__(self, batches):
        spec = Spec.coerce(self.spec)
        for batch in batches:
            for table in _staged.read_tables(batch.column("path").to_pylist(), spec, self.batch_size):
                yield from table.to_batches()


def read(spark, prefix, *, batch_size: int = 4096):
    """The shards of a dataset as a Spark DataFrame (one partition per shard, in shard order), its schema
    from the spec: int64 -> long (or the spec's narrower int dtype), float -> float/double, bytes ->
    binary (string where the spec's dtype is str), variable-length and 1-D features -> arrays."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from tfforge.records.reader import resolve_paths
    from tfforge.records.spec import spec as load_spec

    prefix = os.path.abspath(path_arg(prefix))
    s = load_spec(prefix)
    paths = resolve_paths(prefix)
    schema = from_arrow_schema(_staged.arrow_schema(s))
    files = spark.createDataFrame(spark.sparkContext.parallelize([(p,) for p in paths], len(paths)), "path string")
    return files.mapInArrow(_DecodeShards(s.to_json(), batch_size), schema)


def register(spark, name: str = "tfrecord") -> None:
    """Registers tfforge's reader as a Spark data source (pyspark 4's Python data source API), so
    ``spark.read.format(name).load(prefix)`` reads a dataset as :func:`read` does (options: ``spec``, a
    spec file; ``batchSize``, rows per Arrow batch). Pass another ``name`` where a JVM connector already
    uses "tfrecord"."""
    try:
        from tfforge.records._spark_source import TFRecordSource
    except ImportError as exc:
        raise SpecError(f"spark.read.format needs pyspark 4 (pyspark.sql.datasource): {exc}") from None
    if not isinstance(name, str) or not name:
        raise SpecError(f"name must be a non-empty string, not {name!r}")
    source = TFRecordSource if name == TFRecordSource.name() else type(
        "TFRecordSource_" + name, (TFRecordSource,), {"name": classmethod(lambda cls: name)})
    spark.dataSource.register(source)


def convert(src, prefix, *, shards: int | None = None, compression=None, spec=None, spark=None) -> list[str]:
    """records.convert on Spark (``tfforge records convert --runner spark``): Parquet and CSV files or
    folders are read by the executors; other sources (see records.open_source) by the driver. Without
    ``spark``, a session from SparkSession.builder (local[*] unless spark-submit configured one)."""
    from pyspark.sql import SparkSession

    from tfforge.records.sources import open_source

    session = spark or SparkSession.builder.appName("tfforge records convert").getOrCreate()
    path = os.fspath(src)
    lower = path.lower().rstrip("/")
    if lower.endswith((".parquet", ".pq")):
        df = session.read.parquet(path)
    elif lower.endswith(".csv"):
        df = session.read.csv(path, header=True, inferSchema=True)
    else:
        import pyarrow as pa

        tables = [_staged.arrow_table(b) for b in open_source(path).batches]
        df = session.createDataFrame(pa.concat_tables(tables) if tables else pa.table({}))
    return write(df, prefix, shards=shards, compression=compression, spec=spec)
