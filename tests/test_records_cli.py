"""`tfforge records ...` end to end, and the demo step."""

import json
import struct

import numpy as np
import pytest

import tfforge.records as records
from tfforge.cli.main import main


def test_convert_inspect_head_count_verify(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", label=np.arange(30), text=np.array([f"t{i}" for i in range(30)]))
    prefix = str(tmp_path / "out" / "ds")
    assert main(["records", "convert", str(tmp_path / "d.npz"), prefix, "--shards", "3", "--compression", "zlib",
                 "--workers", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["records"] == 30 and [p.rsplit("/", 1)[1] for p in out["shards"]] == [
        f"ds-0000{i}-of-00003.tfrecord.zz" for i in range(3)]

    assert main(["records", "inspect", prefix, "-n", "1"]) == 0
    text = capsys.readouterr().out
    assert "3 file(s), 30 records" in text and "label" in text and "record 0:" in text and "'t0'" in text

    assert main(["records", "head", out["shards"][1], "-n", "2", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(x)["label"]["values"] for x in lines] == [[10], [11]]

    assert main(["records", "count", prefix]) == 0
    assert capsys.readouterr().out.strip() == "30"
    assert main(["records", "verify", prefix]) == 0
    assert "OK: 30 records" in capsys.readouterr().out


def test_verify_exits_1_naming_file_and_offset(tmp_path, capsys):
    path = str(tmp_path / "bad.tfrecord")
    with records.Writer(path) as w:
        w.write({"x": np.arange(4)})
    raw = bytearray(open(path, "rb").read())
    second = 16 + struct.unpack_from("<Q", raw, 0)[0]
    raw[second + 12] ^= 0x55
    open(path, "wb").write(raw)
    assert main(["records", "verify", path]) == 1
    captured = capsys.readouterr()
    assert f"{path}: record 1, byte offset {second}: bad data CRC" in captured.err
    assert "FAILED" in captured.out
    assert main(["records", "verify", "--json", path]) == 1
    assert json.loads(capsys.readouterr().out)["files"][0]["errors"][0]["offset"] == second


def test_convert_bad_source_is_one_line(tmp_path, capsys):
    assert main(["records", "convert", str(tmp_path / "missing.npz"), str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tfforge: error:") and "missing.npz" in err and len(err.strip().splitlines()) == 1


def test_write_progress_bar_shows_rates(tmp_path, monkeypatch):
    import io

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    monkeypatch.setattr("sys.stderr", stream)
    records.write({"x": np.arange(1000)}, str(tmp_path / "p"), progress=True)
    assert "1,000/1,000 rec" in stream.getvalue() and "rec/s" in stream.getvalue() and "MB/s" in stream.getvalue()


def test_demo_step(tmp_path):
    from tfforge.demos.records import demo_step

    out = demo_step(str(tmp_path))
    assert "9 records" in out and "CRCs ok: True" in out
