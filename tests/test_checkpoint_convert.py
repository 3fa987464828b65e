"""inspect and freeze read checkpoint tensors through the native engine: a corrupted .index or .data
is an error there too (issue 10: a flipped .index bit turned float32 into int32 with exit 0), and
checkpoints the old Python reader handed to TensorFlow (partitioned, strings) inspect natively."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tfforge.cli.main import main  # noqa: E402
from tfforge.convert.inspectors import inspect_checkpoint  # noqa: E402
from tfforge.errors import CheckpointError  # noqa: E402
from test_checkpoint_read import tf1_partitioned  # noqa: E402
from test_convert_models import tf1_checkpoint  # noqa: E402


def _copy_checkpoint(tmp_path):
    d, _, _ = tf1_checkpoint()
    for name in os.listdir(d):
        shutil.copy(os.path.join(d, name), tmp_path / name)
    return str(tmp_path / "model.ckpt-2")


def _flip_dtype_of_w(prefix):
    raw = bytearray(open(prefix + ".index", "rb").read())
    at = raw.index(b"w\x08\x01") + 2  # key 'w' then BundleEntryProto field 1 (dtype) = DT_FLOAT
    raw[at] = 3                         # DT_INT32: same size, garbage values if unchecked
    open(prefix + ".index", "wb").write(raw)


def test_inspect_and_freeze_refuse_a_flipped_index_bit(tmp_path, capsys):
    prefix = _copy_checkpoint(tmp_path)
    _flip_dtype_of_w(prefix)
    with pytest.raises(CheckpointError, match="checksum"):
        inspect_checkpoint(prefix)
    for argv in (["inspect", prefix], ["freeze", prefix, str(tmp_path / "frozen.pb"), "--outputs", "y"]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert prefix + ".index" in err and "byte offset" in err and "Traceback" not in err
    assert not os.path.exists(tmp_path / "frozen.pb")


def test_freeze_refuses_a_corrupted_weight(tmp_path, capsys):
    prefix = _copy_checkpoint(tmp_path)
    import tfforge.checkpoint as ck
    entry = ck.open(prefix).entry("w")
    data = prefix + ".data-00000-of-00001"
    raw = bytearray(open(data, "rb").read())
    raw[entry["offset"] + 5] ^= 0x40
    open(data, "wb").write(raw)
    assert main(["freeze", prefix, str(tmp_path / "frozen.pb"), "--outputs", "y"]) == 1
    err = capsys.readouterr().err
    assert "tensor 'w'" in err and "CRC32C" in err and data in err


def test_inspect_partitioned_and_string_checkpoint_matches_tensorflow():
    prefix = tf1_partitioned()
    report = inspect_checkpoint(prefix, tensor="cube")
    reader = tf.train.load_checkpoint(prefix)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    assert {v["name"]: (v["dtype"], v["shape"]) for v in report["variables"]} == \
        {n: (dtypes[n].name, shapes[n]) for n in shapes}
    assert report["tensor"]["shape"] == [4, 5, 6]
    assert np.array_equal(np.arange(120).reshape(4, 5, 6), reader.get_tensor("cube"))
