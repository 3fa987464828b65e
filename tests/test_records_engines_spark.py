"""tfforge.records.spark in Spark local mode: DataFrame -> shards (native encoder on the executors, read
back with TensorFlow's parse_example) and shards -> DataFrame. One Spark session for the module (the
JVM takes seconds to start)."""

import os
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
