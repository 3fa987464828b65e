"""Distributed TFRecord writing: tfforge's Spark and Ray writers (native encoder on the workers, Arrow
batches) against what users run without them, on the same data in the same run:

* Spark: a Python function per partition that builds a ``tf.train.Example`` per row and writes it with
  ``tf.io.TFRecordWriter`` (the way to write TFRecords from PySpark without a JVM connector);
* Ray: ``ray.data.Dataset.write_tfrecords`` (a ``tf.train.Example`` per row on the workers).

Row: an int64 id, a float, a short string and a variable-length list of 16 int64 on average. Each
engine runs on this machine (Spark local[N], ray.init(num_cpus=N)); every writer runs once after a
small warm-up (JVM, worker processes, TensorFlow import on the workers), and the engine's own
scheduling overhead counts against both sides alike. For Spark the time of a ``mapInArrow`` that only
counts rows is reported too: the part of tfforge's time that is Spark handing the data to Python.

    python benchmarks/bench_records_engines.py [--rows 200000] [--cpus 2] [--engines spark,ray]

Writes bench_records_engines.json into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time


def _rows_table(n: int):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(0)
    lengths = rng.integers(0, 33, n)
    splits = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.table({
        "id": pa.array(np.arange(n, dtype=np.int64)),
        "x": pa.array(rng.random(n)),
        "s": pa.array([f"item-{i}" for i in range(n)]),
        "tok": pa.ListArray.from_arrays(pa.array(splits), pa.array(rng.integers(0, 50000, int(splits[-1])))),
    })


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _tf_partition_writer(folder: str):
    def write_partition(index, rows):
        import tensorflow as tf

        path = os.path.join(folder, f"part-{index:05d}.tfrecord")
        count = 0
        with tf.io.TFRecordWriter(path) as w:
            for r in rows:
                ex = tf.train.Example(features=tf.train.Features(feature={
                    "id": tf.train.Feature(int64_list=tf.train.Int64List(value=[r["id"]])),
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=[r["x"]])),
                    "s": tf.train.Feature(bytes_list=tf.train.BytesList(value=[r["s"].encode()])),
                    "tok": tf.train.Feature(int64_list=tf.train.Int64List(value=r["tok"])),
                }))
                w.write(ex.SerializeToString())
                count += 1
        yield count
    return write_partition


def _count_rows(batches):
    import pyarrow as pa

    yield pa.RecordBatch.from_pydict({"n": [sum(b.num_rows for b in batches)]})


def bench_spark(table, cpus: int, work: str) -> dict:
    from pyspark.sql import SparkSession

    from tfforge.records import spark as tfspark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(f"local[{cpus}]").config("spark.ui.enabled", "false")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.createDataFrame(table).repartition(cpus).cache()
    df.count()
    small = df.limit(100).repartition(cpus)
    tfspark.write(small, os.path.join(work, "warm", "t"))
    small.rdd.mapPartitionsWithIndex(_tf_partition_writer(os.path.join(work, "warm"))).collect()

    # Spark's own floor: handing the partitions to Python as Arrow batches and doing nothing with them.
    transfer = _timed(lambda: df.mapInArrow(_count_rows, "n long").collect())
    native = _timed(lambda: tfspark.write(df, os.path.join(work, "spark_tfforge", "t")))
    baseline_dir = os.path.join(work, "spark_udf")
    os.makedirs(baseline_dir)
    udf = _timed(lambda: df.rdd.mapPartitionsWithIndex(_tf_partition_writer(baseline_dir)).collect())
    spark.stop()
    return {"tfforge_s": native, "python_udf_tf_example_s": udf, "speedup": udf / native,
            "arrow_transfer_only_s": transfer}


def bench_ray(table, cpus: int, work: str) -> dict:
    import ray

    from tfforge.records import ray as tfray

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    ds = ray.data.from_arrow(table).repartition(cpus).materialize()
    small = ray.data.from_arrow(table.slice(0, 100)).repartition(cpus)
    small.write_datasink(tfray.Sink(os.path.join(work, "rwarm", "t")))
    small.write_tfrecords(os.path.join(work, "rwarm2"))

    native = _timed(lambda: ds.write_datasink(tfray.Sink(os.path.join(work, "ray_tfforge", "t"))))
    baseline = _timed(lambda: ds.write_tfrecords(os.path.join(work, "ray_write_tfrecords")))
    ray.shutdown()
    return {"tfforge_s": native, "write_tfrecords_s": baseline, "speedup": baseline / native}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200000)
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--engines", default="spark,ray")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args(argv)
    table = _rows_table(args.rows)
    report = {"rows": args.rows, "cpus": args.cpus, "host_cpus": os.cpu_count()}
    work = tempfile.mkdtemp(prefix="tfforge-engines-")
    try:
        for engine in [e for e in args.engines.split(",") if e]:
            report[engine] = {"spark": bench_spark, "ray": bench_ray}[engine](table, args.cpus, work)
            print(engine, json.dumps(report[engine]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bench_records_engines.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
