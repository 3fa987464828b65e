"""tfforge.records.ray on a local Ray cluster: Sink (native encoder on the workers; read back with
TensorFlow's parse_example) and Source (native decoder)."""

import os
import sys

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")

from tfforge import records  # noqa: E402
from tfforge.records import ray as tfray  # noqa: E402

ROWS = 50


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield
    ray.shutdown()


def _table():
    return pa.table({
        "id": pa.array(range(ROWS), pa.int64()),
        "x": pa.array(np.arange(ROWS, dtype=np.float32) / 7),
        "s": pa.array([f"r{i}" for i in range(ROWS)]),
        "tok": pa.array([list(range(i % 5)) for i in range(ROWS)], pa.list_(pa.int64())),
    })


def test_sink_and_source_round_trip(cluster, tmp_path):
    import tensorflow as tf

    table = _table()
    ds = ray.data.from_arrow(table).repartition(3)
    prefix = str(tmp_path / "out" / "train")
    sink = tfray.Sink(prefix, compression="gzip")
    ds.write_datasink(sink)
    names = sorted(os.listdir(tmp_path / "out"))
    shards = [n for n in names if n.endswith(".tfrecord.gz")]
    assert names == sorted(shards + ["train.spec.json"]) and shards[0].endswith("-of-00003.tfrecord.gz")
    spec = records.spec(prefix)
    assert spec.metadata["records"] == ROWS and spec["tok"].varlen

    paths = records.resolve_paths(prefix)
    parsed = tf.io.parse_example([r.numpy() for r in tf.data.TFRecordDataset(paths, compression_type="GZIP")],
                                 spec.to_tf())
    order = np.argsort(parsed["id"].numpy().reshape(-1))
    np.testing.assert_array_equal(parsed["id"].numpy().reshape(-1)[order], np.arange(ROWS))
    np.testing.assert_array_equal(parsed["x"].numpy().reshape(-1)[order], table.column("x").to_numpy())
    assert [parsed["s"].numpy().reshape(-1)[i].decode() for i in order] == table.column("s").to_pylist()
    tok = parsed["tok"].to_list()
    assert [tok[i] for i in order] == table.column("tok").to_pylist()

    back = ray.data.read_datasource(tfray.Source(prefix)).to_arrow_refs()
    got = pa.concat_tables(ray.get(back)).sort_by("id")
    assert got.column("id").to_pylist() == list(range(ROWS))
    assert got.column("tok").to_pylist() == table.column("tok").to_pylist()
    assert got.column("s").to_pylist() == table.column("s").to_pylist()  # a str dtype comes back as string
    np.testing.assert_array_equal(got.column("x").to_numpy(), table.column("x").to_numpy())

    @ray.remote
    def tensorflow_loaded():
        return "tensorflow" in sys.modules

    assert ray.get([tensorflow_loaded.remote() for _ in range(4)]) == [False] * 4


def test_failed_write_leaves_nothing(cluster, tmp_path):
    ds = ray.data.from_arrow(_table()).repartition(2)
    bad_spec = {"features": {"id": {"kind": "int64", "shape": []}, "x": {"kind": "float", "shape": []},
                             "s": {"kind": "bytes", "shape": []}, "tok": {"kind": "int64", "shape": [2]}}}
    with pytest.raises(Exception, match="tok"):
        ds.write_datasink(tfray.Sink(str(tmp_path / "bad"), spec=bad_spec))
    assert os.listdir(tmp_path) == []


def test_cli_convert_runner_ray(cluster, tmp_path):
    from tfforge.cli.main import main

    (tmp_path / "t.csv").write_text("a,b\n" + "".join(f"{i},s{i}\n" for i in range(30)))
    prefix = str(tmp_path / "out" / "t")
    assert main(["records", "convert", str(tmp_path / "t.csv"), prefix, "--runner", "ray", "--shards", "2",
                 "--no-progress"]) == 0
    assert records.spec(prefix).metadata["source"] == "ray" and len(records.resolve_paths(prefix)) == 2
    got = [(int(a), b) for batch in records.read(prefix) for a, b in zip(batch["a"], batch["b"])]
    assert sorted(got) == [(i, f"s{i}") for i in range(30)]


def test_cli_runner_ray_reports_a_worker_error_in_one_line(cluster, tmp_path, capsys):
    from tfforge.cli.main import main

    (tmp_path / "t.csv").write_text("a\n1\n2\n")
    (tmp_path / "s.spec.json").write_text('{"features": {"a": {"kind": "int64", "shape": [2]}}}')
    assert main(["records", "convert", str(tmp_path / "t.csv"), str(tmp_path / "out" / "t"), "--runner", "ray",
                 "--spec", str(tmp_path / "s.spec.json"), "--no-progress"]) != 0
    err = capsys.readouterr().err
    ours = [line for line in err.splitlines() if line.startswith("tfforge:")]
    assert len(ours) == 1 and ours[0].startswith("tfforge: error") and "'a'" in ours[0]
    assert "Traceback" not in err
    assert not os.listdir(tmp_path / "out")
