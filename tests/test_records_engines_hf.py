"""Hugging Face datasets -> TFRecord shards (records.write and `tfforge records convert` of a
save_to_disk folder), read back with TensorFlow's own parse_example."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest

datasets = pytest.importorskip("datasets")
PIL = pytest.importorskip("PIL.Image")

from tfforge import records  # noqa: E402
from tfforge.errors import SpecError  # noqa: E402


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    PIL.fromarray(rng.integers(0, 255, (4, 5, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


ROWS = 23


def _dataset():
    f = datasets.Features({
        "id": datasets.Value("int32"),
        "score": datasets.Value("float64"),
        "text": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["cat", "dog", "eel"]),
        "image": datasets.Image(),
        "tokens": datasets.Sequence(datasets.Value("int64")),
        "box": datasets.Sequence(datasets.Value("float32"), length=3),
    })
    rng = np.random.default_rng(1)
    data = {
        "id": list(range(ROWS)),
        "score": rng.normal(size=ROWS).tolist(),
        "text": [f"row {i} \u00e9" for i in range(ROWS)],
        "label": [i % 3 for i in range(ROWS)],
        "image": [{"bytes": _png(i), "path": None} for i in range(ROWS)],
        "tokens": [list(range(i % 4)) for i in range(ROWS)],
        "box": rng.normal(size=(ROWS, 3)).astype(np.float32).tolist(),
    }
    return datasets.Dataset.from_dict(data, features=f), data


def _parse(prefix):
    import tensorflow as tf

    spec = records.spec(prefix)
    paths = records.resolve_paths(prefix)
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(paths)]
    return spec, tf.io.parse_example(serialized, spec.to_tf())


def _check(prefix, data):
    spec, parsed = _parse(prefix)
    assert spec.metadata["class_names"] == {"label": ["cat", "dog", "eel"]}
    assert spec.metadata["records"] == ROWS
    np.testing.assert_array_equal(parsed["id"].numpy().reshape(-1), data["id"])
    np.testing.assert_allclose(parsed["score"].numpy().reshape(-1), np.float32(data["score"]))
    assert [t.decode() for t in parsed["text"].numpy().reshape(-1)] == data["text"]
    np.testing.assert_array_equal(parsed["label"].numpy().reshape(-1), data["label"])
    assert list(parsed["image"].numpy().reshape(-1)) == [d["bytes"] for d in data["image"]]
    assert parsed["tokens"].to_list() == data["tokens"]
    np.testing.assert_allclose(parsed["box"].numpy(), np.float32(data["box"]))
    assert spec["tokens"].varlen and spec["box"].shape == (3,) and spec["label"].kind == "int64"


def test_write_dataset_matches_parse_example(tmp_path):
    ds, data = _dataset()
    paths = records.write(ds, str(tmp_path / "hf"), shards=2, progress=False)
    assert [os.path.basename(p) for p in paths] == ["hf-00000-of-00002.tfrecord", "hf-00001-of-00002.tfrecord"]
    _check(str(tmp_path / "hf"), data)


def test_write_streams_in_batches_with_a_selection(tmp_path, monkeypatch):
    from tfforge.records import hf

    monkeypatch.setattr(hf, "BATCH_ROWS", 5)
    ds, data = _dataset()
    picked = ds.select(range(ROWS - 1, -1, -1))  # an indices mapping, not the stored order
    seen = []
    tables, rows, _ = hf.source(picked, batch_rows=5)
    for t in tables:
        seen.append(t.num_rows)
    assert rows == ROWS and max(seen) == 5 and sum(seen) == ROWS
    records.write(picked, str(tmp_path / "rev"), progress=False)
    _, parsed = _parse(str(tmp_path / "rev"))
    np.testing.assert_array_equal(parsed["id"].numpy().reshape(-1), data["id"][::-1])


def test_image_stored_by_path(tmp_path):
    files = []
    for i in range(3):
        p = tmp_path / f"{i}.png"
        p.write_bytes(_png(i))
        files.append(str(p))
    ds = datasets.Dataset.from_dict({"image": files}, features=datasets.Features({"image": datasets.Image()}))
    records.write(ds, str(tmp_path / "img"), progress=False)
    _, parsed = _parse(str(tmp_path / "img"))
    assert list(parsed["image"].numpy().reshape(-1)) == [_png(i) for i in range(3)]


def test_cli_converts_a_saved_folder(tmp_path):
    ds, data = _dataset()
    ds.save_to_disk(str(tmp_path / "saved"))
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "records", "convert", str(tmp_path / "saved"),
                          str(tmp_path / "out" / "train"), "--shards", "3", "--json", "--no-progress"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["records"] == ROWS
    _check(str(tmp_path / "out" / "train"), data)


def test_dataset_dict_is_refused_with_its_splits(tmp_path):
    ds, _ = _dataset()
    dd = datasets.DatasetDict({"train": ds, "test": ds})
    with pytest.raises(SpecError, match="train, test"):
        records.write(dd, str(tmp_path / "x"), progress=False)
    dd.save_to_disk(str(tmp_path / "dd"))
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "records", "convert", str(tmp_path / "dd"),
                          str(tmp_path / "y")], capture_output=True, text=True)
    assert out.returncode != 0 and "train" in out.stderr and "Traceback" not in out.stderr


def test_missing_image_file_is_one_clear_error(tmp_path):
    from tfforge.errors import TfforgeError

    missing = str(tmp_path / "gone.png")
    ds = datasets.Dataset.from_dict({"image": [missing]}, features=datasets.Features({"image": datasets.Image()}))
    with pytest.raises(TfforgeError, match="feature 'image': cannot read the file") as err:
        records.write(ds, str(tmp_path / "img"), progress=False)
    assert err.value.path == missing
    assert not os.listdir(tmp_path)
