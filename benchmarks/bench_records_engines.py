"""Distributed TFRecord writing: tfforge's Spark and Ray writers (native encoder on the workers, Arrow
batches) against what users run without them, on the same data in the same run:

* Spark: a Python function per partition (``df.rdd.mapPartitionsWithIndex``) that builds a
  ``tf.train.Example`` per row and writes it with ``tf.io.TFRecordWriter`` (the way to write TFRecords
  from PySpark without a JVM connector);
* Ray: ``ray.data.Dataset.write_tfrecords`` (a ``tf.train.Example`` per row on the workers).

Row: an int64 id, a float, a short string and a variable-length list of 0-32 int64 (about 125 bytes
serialized). Each engine runs on this machine (Spark local[N], ray.init(num_cpus=N)) and its session
starts once, before anything is timed: JVM and Ray start-up are excluded from both sides. A warm-up
write of 100 rows by each writer starts the Python workers and imports TensorFlow and tfforge in
them; for Spark, each size's DataFrame is then handed to Python once both ways (Arrow batches, pickled
rows) untimed, so that the JVM's first pass over either path counts against neither side. Then, for each --rows size, the writers take turns --repeat times (the order rotates every round,
so each writer goes first once per three rounds) and the best time of each is reported, with all the
runs. Before every timed write the previous outputs are deleted and the page cache is flushed
(``os.sync``), untimed, so neither side pays for the other's writeback. Spark also times a
``mapInArrow`` that only counts rows: Spark's own hand-off of the partitions to Python as Arrow
batches, the floor under tfforge's time. The Spark job's fixed cost (scheduling, task launch, the
Python workers' hand-shake) is part of every side's time; it matters more at 200,000 rows than at
1,000,000, so both are measured by default.

    python benchmarks/bench_records_engines.py [--rows 200000,1000000] [--repeat 3] [--cpus 2] [--engines spark,ray]

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


def _best_of(writers: dict, repeat: int, fresh) -> dict:
    """name -> {"best_s", "runs_s"}: the writers take turns, the order rotating each round; ``fresh(name)``
    (untimed) clears that writer's previous output and returns where the next goes."""
    names = list(writers)
    runs: dict = {n: [] for n in names}
    for r in range(repeat):
        for n in names[r % len(names):] + names[:r % len(names)]:
            target = fresh(n)
            os.sync()
            runs[n].append(_timed(lambda: writers[n](target)))
    return {n: {"best_s": min(t), "runs_s": [round(x, 3) for x in t]} for n, t in runs.items()}


def _megabytes(folder: str) -> float:
    """The size of the records a writer left in folder (its spec file aside)."""
    if not os.path.isdir(folder):
        return 0.0
    return sum(e.stat().st_size for e in os.scandir(folder) if e.is_file() and not e.name.endswith(".json")) / 1e6


def _load() -> list:
    return [round(x, 2) for x in os.getloadavg()]


def _fresh_dirs(work: str):
    def fresh(name: str) -> str:
        folder = os.path.join(work, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        return folder
    return fresh


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


def bench_spark(tables: dict, cpus: int, repeat: int, work: str) -> dict:
    from pyspark.sql import SparkSession

    from tfforge.records import spark as tfspark

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (SparkSession.builder.master(f"local[{cpus}]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").config("spark.driver.memory", "3g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    out = {"session": f"local[{cpus}], warm (JVM start-up excluded from both sides)"}
    first = next(iter(tables.values()))
    small = spark.createDataFrame(first.slice(0, 100)).repartition(cpus)
    tfspark.write(small, os.path.join(work, "warm", "t"))
    small.rdd.mapPartitionsWithIndex(_tf_partition_writer(os.path.join(work, "warm"))).collect()
    for rows, table in tables.items():
        df = spark.createDataFrame(table).repartition(cpus).cache()
        df.count()
        # Untimed, once per size: both hand-off paths (Arrow batches; pickled rows) over the whole
        # DataFrame, so that neither side's first timed run pays the JVM's warm-up of its path.
        df.mapInArrow(_count_rows, "n long").collect()
        df.rdd.mapPartitions(lambda rows: [sum(1 for _ in rows)]).collect()
        writers = {
            "tfforge": lambda folder: tfspark.write(df, os.path.join(folder, "t")),
            "python_udf_tf_example": lambda folder: df.rdd.mapPartitionsWithIndex(_tf_partition_writer(folder)).collect(),
            # Spark's own floor: handing the partitions to Python as Arrow batches and doing nothing with them.
            "arrow_handoff_only": lambda folder: df.mapInArrow(_count_rows, "n long").collect(),
        }
        load_before = _load()
        times = _best_of(writers, repeat, _fresh_dirs(work))
        tf_s, udf_s = times["tfforge"]["best_s"], times["python_udf_tf_example"]["best_s"]
        out[str(rows)] = {
            "rows": rows, "tfforge_mb": round(_megabytes(os.path.join(work, "tfforge")), 1),
            "python_udf_mb": round(_megabytes(os.path.join(work, "python_udf_tf_example")), 1),
            "tfforge_s": round(tf_s, 3), "python_udf_tf_example_s": round(udf_s, 3), "speedup": round(udf_s / tf_s, 2),
            "arrow_handoff_only_s": round(times["arrow_handoff_only"]["best_s"], 3),
            "runs_s": {n: t["runs_s"] for n, t in times.items()}, "load_before": load_before, "load_after": _load()}
        print("spark", rows, json.dumps(out[str(rows)]), flush=True)
        df.unpersist()
    spark.stop()
    return out


def bench_ray(tables: dict, cpus: int, repeat: int, work: str) -> dict:
    import ray

    from tfforge.records import ray as tfray

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    out = {"session": f"ray.init(num_cpus={cpus}), warm (start-up excluded from both sides)"}
    first = next(iter(tables.values()))
    small = ray.data.from_arrow(first.slice(0, 100)).repartition(cpus)
    small.write_datasink(tfray.Sink(os.path.join(work, "rwarm", "t")))
    small.write_tfrecords(os.path.join(work, "rwarm2"))
    for rows, table in tables.items():
        ds = ray.data.from_arrow(table).repartition(cpus).materialize()
        writers = {"tfforge": lambda folder: ds.write_datasink(tfray.Sink(os.path.join(folder, "t"))),
                   "write_tfrecords": lambda folder: ds.write_tfrecords(folder)}
        load_before = _load()
        times = _best_of(writers, repeat, _fresh_dirs(work))
        tf_s, base_s = times["tfforge"]["best_s"], times["write_tfrecords"]["best_s"]
        out[str(rows)] = {
            "rows": rows, "tfforge_mb": round(_megabytes(os.path.join(work, "tfforge")), 1),
            "write_tfrecords_mb": round(_megabytes(os.path.join(work, "write_tfrecords")), 1),
            "tfforge_s": round(tf_s, 3), "write_tfrecords_s": round(base_s, 3), "speedup": round(base_s / tf_s, 2),
            "runs_s": {n: t["runs_s"] for n, t in times.items()}, "load_before": load_before, "load_after": _load()}
        print("ray", rows, json.dumps(out[str(rows)]), flush=True)
        del ds
    ray.shutdown()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default="200000,1000000", help="comma-separated sizes, each measured in turn")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs of each writer per size (best of)")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--engines", default="spark,ray")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    args = ap.parse_args(argv)
    sizes = [int(r) for r in args.rows.split(",") if r]
    if not sizes or min(sizes) < 100 or args.repeat < 1:
        ap.error("--rows needs sizes of at least 100 rows and --repeat at least 1")
    tables = {n: _rows_table(n) for n in sizes}
    report = {"rows": sizes, "repeat": args.repeat, "cpus": args.cpus, "host_cpus": os.cpu_count(),
              "load_at_start": _load()}
    work = tempfile.mkdtemp(prefix="tfforge-engines-")
    try:
        for engine in [e for e in args.engines.split(",") if e]:
            report[engine] = {"spark": bench_spark, "ray": bench_ray}[engine](tables, args.cpus, args.repeat, work)
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
