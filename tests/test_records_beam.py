"""tfforge.records.beam end to end on Beam's DirectRunner, read back by TensorFlow and by tfforge."""

import numpy as np
import pytest

import tfforge.records as records

beam = pytest.importorskip("apache_beam", reason="apache-beam is an optional extra (tfforge[beam])")
tf = pytest.importorskip("tensorflow")

from tfforge.records import beam as rbeam  # noqa: E402


def rows(n):
    return [{"id": i, "vec": [float(i), -float(i)], "text": f"row {i}", "tags": list(range(i % 3))} for i in range(n)]


@pytest.mark.parametrize("compression,tf_name", [("none", None), ("gzip", "GZIP"), ("zlib", "ZLIB")])
def test_write_rows_direct_runner(tmp_path, compression, tf_name):
    prefix = str(tmp_path / "beam" / "ds")
    with beam.Pipeline(runner="DirectRunner") as p:
        p | beam.Create(rows(200)) | rbeam.WriteToTFRecords(prefix, num_shards=3, compression=compression)
    paths = records.resolve_paths(prefix)
    ext = {"none": "", "gzip": ".gz", "zlib": ".zz"}[compression]
    assert [p.rsplit("/", 1)[1] for p in paths] == [f"ds-0000{i}-of-00003.tfrecord{ext}" for i in range(3)]
    spec = records.spec(prefix)
    assert spec.metadata["records"] == 200 and spec["tags"].varlen and spec["vec"].shape == (2,)
    ds = tf.data.TFRecordDataset(paths, compression_type=tf_name).batch(1000)
    parsed = tf.io.parse_example(next(iter(ds)), spec.to_tf())
    order = np.argsort(parsed["id"].numpy())
    assert parsed["id"].numpy()[order].tolist() == list(range(200))
    assert [parsed["tags"].to_list()[i] for i in order] == [list(range(i % 3)) for i in range(200)]
    got = {int(i): t for b in records.read(prefix) for i, t in zip(b["id"], b["text"])}
    assert got == {i: f"row {i}" for i in range(200)}


def test_cli_convert_with_runner(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from tfforge.cli.main import main

    pq.write_table(pa.table({"a": list(range(100)), "b": [f"s{i}" for i in range(100)]}), tmp_path / "t.parquet")
    prefix = str(tmp_path / "out" / "t")
    assert main(["records", "convert", str(tmp_path / "t.parquet"), prefix, "--runner", "DirectRunner",
                 "--shards", "2", "--compression", "gzip"]) == 0
    assert records.count(prefix) == 100
    assert sorted(int(a) for b in records.read(prefix) for a in b["a"]) == list(range(100))
