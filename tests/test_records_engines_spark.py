"""tfforge.records.spark in Spark local mode: DataFrame -> shards (native encoder on the executors, read
back with TensorFlow's parse_example) and shards -> DataFrame. One Spark session for the module (the
JVM takes seconds to start)."""

import os
import re
import shutil
import sys

import numpy as np
import pytest

pyspark = pytest.importorskip("pyspark")
if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
    pytest.skip("Spark needs Java: no java on PATH and JAVA_HOME is not set", allow_module_level=True)

from tfforge import records  # noqa: E402
from tfforge.records import spark as tfspark  # noqa: E402

ROWS = 40


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    session = (SparkSession.builder.master("local[2]").appName("tfforge-test")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.memory", "1g").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _frame(spark):
    rows = [(i, float(i) / 3, f"t{i}", bytes([i, 0, 255]), list(range(i % 4)), [float(i), -1.0], i % 2 == 0)
            for i in range(ROWS)]
    return spark.createDataFrame(rows, "id long, x double, s string, b binary, tok array<long>, "
                                       "pair array<float>, flag boolean"), rows


def test_write_reads_back_in_tensorflow_and_spark(spark, tmp_path):
    import tensorflow as tf

    df, rows = _frame(spark)
    prefix = str(tmp_path / "out" / "train")
    paths = tfspark.write(df, prefix, shards=3, compression="gzip")
    assert [os.path.basename(p) for p in paths] == [f"train-0000{i}-of-00003.tfrecord.gz" for i in range(3)]
    assert sorted(os.listdir(tmp_path / "out")) == sorted([os.path.basename(p) for p in paths] + ["train.spec.json"])
    spec = records.spec(prefix)
    assert spec.metadata["records"] == ROWS and spec["tok"].varlen and spec["s"].dtype == "str"
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(paths, compression_type="GZIP")]
    parsed = tf.io.parse_example(serialized, spec.to_tf())
    got = sorted(zip(parsed["id"].numpy().reshape(-1).tolist(), parsed["x"].numpy().reshape(-1).tolist(),
                     [v.decode() for v in parsed["s"].numpy().reshape(-1)], list(parsed["b"].numpy().reshape(-1)),
                     parsed["tok"].to_list(), parsed["pair"].to_list(),
                     parsed["flag"].numpy().reshape(-1).astype(bool).tolist()))
    want = [(i, np.float32(x).item(), s, b, t, p, f) for i, x, s, b, t, p, f in rows]
    assert got == want

    back = tfspark.read(spark, prefix)
    assert back.schema.simpleString() == ("struct<id:bigint,x:double,s:string,b:binary,tok:array<bigint>,"
                                          "pair:array<float>,flag:boolean>")
    assert back.rdd.getNumPartitions() == 3
    collected = sorted(tuple(r) for r in back.collect())
    assert [r[0] for r in collected] == list(range(ROWS))
    assert [(r[2], bytes(r[3]), list(r[4]), list(r[5]), r[6]) for r in collected] == \
        [(s, b, t, p, f) for _, _, s, b, t, p, f in rows]

    # A second write replaces the dataset wholly, shards of the other count included.
    tfspark.write(df, prefix, shards=2)
    assert sorted(os.listdir(tmp_path / "out")) == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord",
                                                     "train.spec.json"]
    assert records.count(prefix) == ROWS

    # The executors' Python workers never loaded TensorFlow.
    loaded = spark.sparkContext.parallelize(range(4), 2).map(lambda _: "tensorflow" in sys.modules).collect()
    assert loaded == [False] * 4


def test_failed_task_leaves_nothing_visible(spark, tmp_path):
    df, _ = _frame(spark)
    prefix = str(tmp_path / "bad")
    # A fixed shape of 3 values: the rows' tok lists do not have it, so every task fails in the encoder.
    from tfforge.errors import SpecError

    with pytest.raises(SpecError, match="a Spark task failed: .*tok") as err:
        tfspark.write(df, prefix, shards=2, spec={"features": {
            "id": {"kind": "int64", "shape": []}, "x": {"kind": "float", "shape": []},
            "s": {"kind": "bytes", "shape": []}, "b": {"kind": "bytes", "shape": []},
            "tok": {"kind": "int64", "shape": [3]}, "pair": {"kind": "float", "shape": [2]},
            "flag": {"kind": "int64", "shape": []}}})
    assert "\n" not in str(err.value)
    assert os.listdir(tmp_path) == []


def test_cli_convert_runner_spark(spark, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tfforge.cli.main import main

    pq.write_table(pa.table({"a": list(range(30)), "b": [f"s{i}" for i in range(30)]}), tmp_path / "t.parquet")
    prefix = str(tmp_path / "out" / "t")
    assert main(["records", "convert", str(tmp_path / "t.parquet"), prefix, "--runner", "spark", "--shards", "2",
                 "--no-progress"]) == 0
    assert records.spec(prefix).metadata["source"] == "spark" and len(records.resolve_paths(prefix)) == 2
    got = [(int(a), b) for batch in records.read(prefix) for a, b in zip(batch["a"], batch["b"])]
    assert sorted(got) == [(i, f"s{i}") for i in range(30)]


def test_spark_read_format_tfrecord(spark, tmp_path):
    pytest.importorskip("pyspark.sql.datasource", reason="Python data sources need pyspark 4")
    df, rows = _frame(spark)
    prefix = str(tmp_path / "fmt" / "train")
    tfspark.write(df, prefix, shards=3)
    tfspark.register(spark)
    back = spark.read.format("tfrecord").load(prefix)
    assert back.schema.simpleString() == ("struct<id:bigint,x:double,s:string,b:binary,tok:array<bigint>,"
                                          "pair:array<float>,flag:boolean>")
    collected = sorted(tuple(r) for r in back.collect())
    assert [(r[0], r[2], bytes(r[3]), list(r[4]), list(r[5]), r[6]) for r in collected] == \
        [(i, s, b, t, p, f) for i, _, s, b, t, p, f in rows]
    assert back.filter("id % 2 = 1").count() == ROWS // 2
    one = spark.read.format("tfrecord").option("batchSize", 7).load(prefix + "-00001-of-00003.tfrecord")
    assert one.count() == records.count(prefix + "-00001-of-00003.tfrecord")
    tfspark.register(spark, name="tfforge")
    assert spark.read.format("tfforge").load(prefix).count() == ROWS


def _files(folder):
    return {name: (folder / name).read_bytes() for name in sorted(os.listdir(folder))}


def test_shard_i_is_partition_i_and_names_and_bytes_are_deterministic(spark, tmp_path):
    df = spark.range(0, 50, numPartitions=3).selectExpr("id", "cast(id * 2 as int) as twice", "sequence(0, id % 3) as seq")
    partitions = df.rdd.glom().map(lambda rows: [r["id"] for r in rows]).collect()
    assert len(partitions) == 3 and all(partitions)
    first = str(tmp_path / "a" / "t")
    paths = tfspark.write(df, first)
    assert [os.path.basename(p) for p in paths] == [f"t-0000{i}-of-00003.tfrecord" for i in range(3)]
    for i, path in enumerate(paths):
        assert [int(v) for batch in records.read(path, spec=records.spec(first)) for v in batch["id"]] == partitions[i]
    # The same DataFrame written again (another prefix, the same name): the same files, byte for byte.
    second = str(tmp_path / "b" / "t")
    tfspark.write(df, second)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")


def test_a_failed_job_leaves_the_earlier_dataset_as_it_was(spark, tmp_path):
    from tfforge.errors import SpecError

    good, _ = _frame(spark)
    prefix = str(tmp_path / "train")
    tfspark.write(good, prefix, shards=2)
    before = _files(tmp_path)
    # Every partition holds a null late in the data, after several Arrow batches have been encoded into
    # the task's temporary file: each task fails part-way through its file.
    bad = spark.range(0, 60, numPartitions=2).selectExpr(
        "id", "case when id % 30 = 29 then null else cast(id as double) end as x")
    old = spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "5")
    try:
        with pytest.raises(SpecError, match=r"a Spark task failed: partition [01], the batch of its rows 25-29: "
                                            r"column 'x' has a missing value at row 4") as err:
            tfspark.write(bad, prefix)
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", old)
    assert "\n" not in str(err.value)
    assert _files(tmp_path) == before  # no new shard, staged or temporary file; the old dataset intact
    assert records.count(prefix) == ROWS


def test_spec_from_the_schema_round_trips_through_spark_read_format(spark, tmp_path):
    pytest.importorskip("pyspark.sql.datasource", reason="Python data sources need pyspark 4")
    import pyarrow as pa

    schema = ("l long, i int, h short, t tinyint, f float, d double, flag boolean, s string, b binary, "
              "al array<long>, ai array<int>, ad array<double>, af array<float>, astr array<string>, "
              "ab array<binary>, aflag array<boolean>")
    rows = [(i, -i, i % 300, i % 100 - 50, i / 4, i * 0.5, i % 3 == 0, f"é{i}", bytes([i % 256]) * (i % 3),
             list(range(i % 4)), [i, -i], [0.25] * (i % 3), [i / 2], [f"w{j}" for j in range(i % 3)],
             [b"\x00\xff"] * (i % 2), [True, i % 2 == 1]) for i in range(ROWS)]
    df = spark.createDataFrame(rows, schema)
    prefix = str(tmp_path / "rt" / "t")
    tfspark.write(df, prefix, shards=2)
    spec = records.spec(prefix)
    assert spec.features == tfspark.spec_of_schema(df.schema).features
    # The schema's spec is the one the encoder infers from the same data (records.write, one process).
    records.write(pa.Table.from_batches(df.toArrow().to_batches()), str(tmp_path / "local" / "t"))
    assert records.spec(str(tmp_path / "local" / "t")).features == spec.features

    tfspark.register(spark)
    back = spark.read.format("tfrecord").load(prefix)
    assert back.schema.simpleString() == df.schema.simpleString()
    assert sorted(back.collect()) == sorted(df.collect())


def test_unsupported_columns_fail_before_the_job(spark, tmp_path):
    from tfforge.errors import SpecError

    for expr, what in (("current_timestamp() as ts", "column 'ts': Spark type timestamp"),
                       ("map('k', id) as m", "column 'm': Spark type map<string,bigint>"),
                       ("array(array(id)) as nested", "column 'nested': Spark type array<array<bigint>>"),
                       ("cast(id as decimal(10, 2)) as dec", "column 'dec': Spark type decimal(10,2)")):
        df = spark.range(3).selectExpr("id", expr)
        with pytest.raises(SpecError, match=re.escape(what) + ".* cannot be stored") as err:
            tfspark.write(df, str(tmp_path / "out" / "t"))
        assert "\n" not in str(err.value)
    with pytest.raises(SpecError, match="two columns named 'id'"):
        tfspark.write(spark.range(3).selectExpr("id", "id"), str(tmp_path / "out" / "t"))
    with pytest.raises(SpecError, match=re.escape("columns ['id'] and the spec's features ['x'] differ")):
        tfspark.write(spark.range(3), str(tmp_path / "out" / "t"), spec={"features": {"x": {"kind": "int64", "shape": []}}})
    assert not (tmp_path / "out").exists()


def test_an_empty_dataframe_writes_empty_shards_with_the_schema_spec(spark, tmp_path):
    df = spark.createDataFrame([], "id long, tok array<string>")
    prefix = str(tmp_path / "e" / "t")
    paths = tfspark.write(df, prefix, shards=2)
    assert [os.path.getsize(p) for p in paths] == [0, 0]
    spec = records.spec(prefix)
    assert spec.metadata["records"] == 0 and list(spec.features) == ["id", "tok"]
    assert spec["id"].dtype == "int64" and spec["tok"].varlen and spec["tok"].dtype == "str"
    assert records.count(prefix) == 0
    back = tfspark.read(spark, prefix)
    assert back.schema.simpleString() == "struct<id:bigint,tok:array<string>>" and back.count() == 0
