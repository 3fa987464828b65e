"""The Python API without TensorFlow: inputs, shards, determinism, specs, read layout."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import tfforge.records as records
from tfforge.records import Ragged


def digest(paths):
    return [hashlib.sha256(open(p, "rb").read()).hexdigest() for p in paths]


def big_data(n=3000):
    rng = np.random.default_rng(1)
    return {"image": [rng.bytes(700 + i % 50) for i in range(n)], "label": rng.integers(0, 10, n),
            "emb": rng.random((n, 32), dtype=np.float32), "ids": [np.arange(i % 6) for i in range(n)]}


def test_importable_without_tensorflow():
    code = ("import sys; sys.modules['tensorflow'] = None\n"  # any TensorFlow import would fail
            "import numpy as np, tfforge.records as r, tempfile, os\n"
            "d = tempfile.mkdtemp(); p = r.write({'a': np.arange(3)}, os.path.join(d, 'x'), progress=False)\n"
            "print(next(iter(r.read(p)))['a'].tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[0, 1, 2]"


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_deterministic_across_workers(tmp_path, compression):
    data = big_data()
    a = records.write(data, str(tmp_path / "a"), shards=3, compression=compression, workers=1, progress=False)
    b = records.write(data, str(tmp_path / "b"), shards=3, compression=compression, workers=4, progress=False)
    assert digest(a) == digest(b)
    assert records.count(a) == 3000 and [records.count(p) for p in a] == [1000, 1000, 1000]


def test_batches_iterable_and_records_per_shard(tmp_path):
    data = big_data(1000)
    batches = ({k: v[i:i + 128] for k, v in data.items()} for i in range(0, 1000, 128))
    paths = records.write(batches, str(tmp_path / "ds"), records_per_shard=300, progress=False)
    assert [os.path.basename(p) for p in paths] == [f"ds-0000{i}-of-00004.tfrecord" for i in range(4)]
    assert [records.count(p) for p in paths] == [300, 300, 300, 100]
    spec = records.spec(str(tmp_path / "ds"))
    assert spec.metadata["records"] == 1000 and spec["ids"].varlen and spec["emb"].shape == (32,)
    got = list(records.read(str(tmp_path / "ds"), batch_size=400))
    assert [len(b["label"]) for b in got] == [400, 400, 200]
    assert np.concatenate([b["label"] for b in got]).tolist() == data["label"].tolist()
    assert [x for b in got for x in b["image"]] == data["image"]
    assert [r.tolist() for b in got for r in b["ids"]] == [r.tolist() for r in data["ids"]]
    np.testing.assert_array_equal(np.concatenate([b["emb"] for b in got]), data["emb"])
    # Everything is in one same-sized dataset whatever the batches: one call with the whole data.
    whole = records.write(data, str(tmp_path / "w"), records_per_shard=300, progress=False)
    assert digest(whole) == digest(paths)


def test_dtypes_round_trip(tmp_path):
    data = {"u8": np.arange(5, dtype=np.uint8), "b": np.array([True, False] * 2 + [True]),
            "f64": np.linspace(0, 1, 5), "i32": np.arange(5, dtype=np.int32) * -3,
            "s": np.array(["a", "bb", "", "dddd", "é"]), "raw": np.array([b"x", b"", b"zz", b"\0a", b"q"])}
    records.write(data, str(tmp_path / "d"), progress=False)
    (got,) = records.read(str(tmp_path / "d"))
    for k in ("u8", "b", "i32"):
        assert got[k].dtype == data[k].dtype and got[k].tolist() == data[k].tolist()
    assert got["f64"].dtype == np.float64 and np.allclose(got["f64"], data["f64"].astype(np.float32))
    assert got["s"].tolist() == data["s"].tolist()
    assert got["raw"].tolist() == data["raw"].tolist()


def test_pandas_and_arrow_inputs(tmp_path):
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    df = pd.DataFrame({"x": [1, 2, 3], "y": [0.5, 1.5, 2.5], "name": ["a", "b", "c"]})
    records.write(df, str(tmp_path / "pd"), progress=False)
    (got,) = records.read(str(tmp_path / "pd"))
    assert got["x"].tolist() == [1, 2, 3] and got["name"].tolist() == ["a", "b", "c"]
    table = pa.table({"ids": pa.array([[1, 2], None, [3]], type=pa.list_(pa.int64())),
                      "blob": pa.array([b"p", b"", b"qq"], type=pa.binary()),
                      "fix": pa.array([[1.0, 2.0]] * 3, type=pa.list_(pa.float32(), 2)),
                      "s": pa.array(["x", "yy", "zzz"]).slice(0, 3)})
    records.write(table.slice(0, 3), str(tmp_path / "pa"), progress=False)
    (got,) = records.read(str(tmp_path / "pa"))
    assert got["ids"].tolist() == [[1, 2], [], [3]]
    assert got["blob"].tolist() == [b"p", b"", b"qq"]
    assert got["fix"].tolist() == [[1.0, 2.0]] * 3
    assert got["s"].tolist() == ["x", "yy", "zzz"]
    sliced = pa.table({"s": pa.array(["skip", "x", "yy"])}).slice(1)  # a non-zero Arrow offset
    records.write(sliced, str(tmp_path / "sl"), progress=False)
    assert next(iter(records.read(str(tmp_path / "sl"))))["s"].tolist() == ["x", "yy"]


def test_writer_spec_merges_shapes(tmp_path):
    path = str(tmp_path / "w.tfrecord")
    with records.Writer(path) as w:
        w.write_example({"v": [1, 2, 3], "t": "hello"})
        w.write_example({"v": [4], "t": "x"})
        assert w.records == 2
    assert w.spec["v"].varlen and w.spec["t"].shape == () and w.spec["t"].dtype == "str"
    (got,) = records.read(path, spec=w.spec)
    assert got["v"].tolist() == [[1, 2, 3], [4]] and got["t"].tolist() == ["hello", "x"]


def test_spec_file_and_explicit_spec(tmp_path):
    spec = {"a": {"kind": "float", "shape": [2]}, "b": {"kind": "int64", "shape": None, "dtype": "int16"}}
    records.write({"a": np.ones((4, 2), dtype=np.int64), "b": [[1], [2, 3], [], [4]]}, str(tmp_path / "s"),
                  spec=spec, progress=False)
    saved = json.load(open(tmp_path / "s.spec.json"))
    assert saved["features"]["a"] == {"kind": "float", "shape": [2], "dtype": "float32"}
    assert saved["records"] == 4 and saved["shards"] == ["s-00000-of-00001.tfrecord"]
    (got,) = records.read(str(tmp_path / "s-00000-of-00001.tfrecord"))
    assert got["a"].dtype == np.float32 and got["b"].values.dtype == np.int16
    assert isinstance(got["b"], Ragged) and got["b"].row_lengths.tolist() == [1, 2, 0, 1]
    assert list(records.read(str(tmp_path / "s"), features=["b"]))[0].keys() == {"b"}


def test_ragged_round_trip_and_glob(tmp_path):
    r = Ragged(np.arange(6, dtype=np.float32), [0, 2, 2, 6])
    records.write({"r": r}, str(tmp_path / "g"), shards=2, progress=False)
    got = list(records.read(str(tmp_path / "g-*.tfrecord")))
    assert got[0]["r"] == r and got[0]["r"][1].size == 0 and got[0]["r"][-1].tolist() == [2, 3, 4, 5]


def test_encode_buffer_matches_files(tmp_path):
    from tfforge.records import _columns

    data = big_data(500)
    prepared = _columns.prepare(data)
    buf, offsets = prepared.native.encode(0, 500, framed=True, workers=2)
    path = records.write(data, str(tmp_path / "e"), progress=False)[0]
    assert bytes(memoryview(buf)) == open(path, "rb").read() and offsets[-1] == len(buf)
    examples = prepared.native.serialize(0, 500)
    assert [len(e) + 16 for e in examples] == np.diff(offsets).tolist()


def test_prefix_reads_the_shards_of_the_last_write(tmp_path):
    prefix = str(tmp_path / "ds")
    records.write({"x": np.arange(10)}, prefix, shards=3, progress=False)
    records.write({"x": np.arange(4)}, prefix, shards=2, progress=False)  # leaves the -of-00003 files
    assert records.count(prefix) == 4
    assert sorted(np.concatenate([b["x"] for b in records.read(prefix)]).tolist()) == [0, 1, 2, 3]
