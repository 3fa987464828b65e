"""Conversion sources: npz, pandas, Parquet, CSV, Arrow IPC, image folders (checked with TensorFlow)."""

import os

import numpy as np
import pytest

import tfforge.records as records
from tfforge.errors import SpecError
from tfforge.records import sources

pa = pytest.importorskip("pyarrow")


def read_all(prefix):
    batches = list(records.read(prefix, batch_size=100000))
    assert len(batches) == 1
    return batches[0]


def test_npz(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.arange(10), y=np.ones((10, 3), np.float32), s=np.array([b"a"] * 10))
    records.convert(str(tmp_path / "d.npz"), str(tmp_path / "out"), progress=False)
    got = read_all(str(tmp_path / "out"))
    assert got["x"].tolist() == list(range(10)) and got["y"].shape == (10, 3) and got["s"][0] == b"a"


def test_parquet_csv_arrow_pickle(tmp_path):
    import pandas as pd
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    table = pa.table({"id": pa.array(range(50), pa.int64()), "score": pa.array(np.linspace(0, 1, 50)),
                      "name": pa.array([f"n{i}" for i in range(50)]),
                      "tags": pa.array([[i] * (i % 3) for i in range(50)], pa.list_(pa.int32()))})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=16)
    with pa.ipc.new_file(str(tmp_path / "t.arrow"), table.schema) as w:
        w.write_table(table, max_chunksize=20)
    with pa.ipc.new_stream(str(tmp_path / "t.arrows"), table.schema) as w:
        w.write_table(table)
    table.to_pandas().to_pickle(tmp_path / "t.pkl")
    for name in ("t.parquet", "t.arrow", "t.arrows", "t.pkl"):
        prefix = str(tmp_path / name.replace(".", "_"))
        records.convert(str(tmp_path / name), prefix, progress=False)
        got = read_all(prefix)
        assert got["id"].tolist() == list(range(50)), name
        assert got["name"].tolist() == [f"n{i}" for i in range(50)], name
        assert [list(r) for r in got["tags"]] == [[i] * (i % 3) for i in range(50)], name
        assert records.spec(prefix)["tags"].varlen
    pcsv.write_csv(table.drop_columns(["tags"]), tmp_path / "t.csv")
    records.convert(str(tmp_path / "t.csv"), str(tmp_path / "csv"), records_per_shard=20, progress=False)
    got = read_all(str(tmp_path / "csv"))
    assert got["id"].tolist() == list(range(50)) and np.allclose(got["score"], np.linspace(0, 1, 50))
    assert records.spec(str(tmp_path / "csv")).metadata["source"] == "csv"
    (tmp_path / "t.bak").write_text("?")
    with pytest.raises(SpecError, match="unknown source type"):
        records.convert(str(tmp_path / "t.bak"), str(tmp_path / "x"))


def test_explicit_spec_for_table(tmp_path):
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1, 2, 3]}), tmp_path / "a.parquet")
    spec = records.Spec({"a": records.Feature("float", (), "float32")})
    spec.save(str(tmp_path / "my.spec.json"))
    records.convert(str(tmp_path / "a.parquet"), str(tmp_path / "o"), spec=str(tmp_path / "my.spec.json"),
                    progress=False)
    assert read_all(str(tmp_path / "o"))["a"].dtype == np.float32


@pytest.fixture
def image_folder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    root = tmp_path / "imgs"
    rng = np.random.default_rng(0)
    for cls, n, ext in (("cat", 3, "png"), ("dog", 2, "jpg")):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 255, (10 + i, 20 + i, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / cls / f"{i}.{ext}")
    (root / "dog" / "notes.txt").write_text("not an image")
    return str(root)


def test_image_folder(tmp_path, image_folder, monkeypatch):
    tf = pytest.importorskip("tensorflow")
    monkeypatch.setattr(sources, "IMAGES_PER_SHARD", 2)
    paths = records.convert(image_folder, str(tmp_path / "img"), progress=False)
    assert len(paths) == 3  # 5 images, about 2 per shard
    spec = records.spec(str(tmp_path / "img"))
    assert spec.classes == ["cat", "dog"]
    ds = tf.data.TFRecordDataset(paths).batch(10)
    parsed = tf.io.parse_example(next(iter(ds)), spec.to_tf())
    labels = parsed["label"].numpy().tolist()
    assert sorted(labels) == [0, 0, 0, 1, 1]
    for img, h, w in zip(parsed["image"].numpy(), parsed["height"].numpy(), parsed["width"].numpy()):
        assert tf.io.decode_image(img).shape == (h, w, 3)
    assert sorted(x.decode() for x in parsed["filename"].numpy()) == [
        "cat/0.png", "cat/1.png", "cat/2.png", "dog/0.jpg", "dog/1.jpg"]


def test_image_folder_resize_reencode(tmp_path, image_folder):
    tf = pytest.importorskip("tensorflow")
    records.convert(image_folder, str(tmp_path / "r"), resize="8x6", image_format="jpeg", progress=False)
    got = read_all(str(tmp_path / "r"))
    assert set(got["height"].tolist()) == {8} and set(got["width"].tolist()) == {6}
    for img in got["image"]:
        assert img[:2] == b"\xff\xd8" and tf.io.decode_jpeg(img).shape == (8, 6, 3)
    assert records.spec(str(tmp_path / "r")).metadata["image_format"] == "jpeg"
