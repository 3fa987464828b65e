"""`tfforge ckpt ls|show|diff|export|import|edit`: run without TensorFlow, checked against TensorFlow's
readers, and edited TF2 checkpoints restored by tf.train.Checkpoint."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import ml_dtypes  # noqa: E402

import tfforge.checkpoint as ck  # noqa: E402
from tfforge.cli.main import main  # noqa: E402
from conftest import run_python  # noqa: E402
from test_checkpoint_read import Model, tf1_partitioned, tf2_checkpoint  # noqa: E402

W = "model/w/.ATTRIBUTES/VARIABLE_VALUE"
H = "model/h/.ATTRIBUTES/VARIABLE_VALUE"


def cli(capsys, *argv):
    rc = main(["ckpt", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_every_verb_runs_without_tensorflow(tmp_path):
    src = tf1_partitioned()
    res = run_python(f"""
        import sys
        from tfforge.cli.main import main
        d = {str(tmp_path)!r}
        for argv in (["ls", {src!r}], ["ls", {src!r}, "--json"], ["show", {src!r}, "part"],
                     ["diff", {src!r}, {src!r}], ["export", {src!r}, d + "/x.npz"],
                     ["export", {src!r}, d + "/x.safetensors"], ["import", d + "/x.npz", d + "/imp/m"],
                     ["edit", {src!r}, d + "/ed/m", "--drop", "names", "--rename", "part=p2", "--cast", "part=bfloat16"]):
            assert main(["ckpt", *argv]) == 0, argv
        assert "tensorflow" not in sys.modules
        print("ok")
    """, block_tensorflow=True)
    assert res.returncode == 0 and res.stdout.strip().endswith("ok"), res.stderr[-3000:]


def test_ls_json_matches_tensorflow(capsys):
    src = tf2_checkpoint()
    rc, out, _ = cli(capsys, "ls", src, "--json")
    assert rc == 0
    listed = {t["name"]: t for t in json.loads(out)["tensors"]}
    reader = tf.train.load_checkpoint(src)
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    assert set(listed) == set(shapes)
    for name, t in listed.items():
        assert t["shape"] == shapes[name] and t["dtype"] == dtypes[name].name
        if dtypes[name] != tf.string:
            assert t["bytes"] == reader.get_tensor(name).nbytes
    rc, out, _ = cli(capsys, "ls", src)
    assert rc == 0 and W in out and "bfloat16" in out and "tensors" in out.splitlines()[-1]


def test_show_prints_values(capsys):
    rc, out, _ = cli(capsys, "show", tf1_partitioned(), "cube", "--json")
    assert rc == 0
    shown = json.loads(out)
    assert shown["shape"] == [4, 5, 6] and shown["values"] == np.arange(120).reshape(4, 5, 6).tolist()
    rc, out, _ = cli(capsys, "show", tf2_checkpoint(), "model/s/.ATTRIBUTES/VARIABLE_VALUE")
    assert rc == 0 and "b'abc'" in out


def test_diff_reports_missing_extra_changes_and_max_abs_difference(tmp_path, capsys):
    src = ck.open(tf2_checkpoint())
    values = {n: src.read(n) for n in src.names()}
    changed = dict(values)
    changed[W] = values[W] + np.float32(0.25) * (np.arange(12).reshape(3, 4) == 5)
    changed["extra"] = np.ones(1, np.float32)
    del changed[H]
    changed["model/i/.ATTRIBUTES/VARIABLE_VALUE"] = np.array([1, 2], np.int64)
    other = ck.write(tmp_path / "b", changed)
    rc, out, _ = cli(capsys, "diff", src.prefix, other, "--json", "--exit-code")
    assert rc == 1
    r = json.loads(out)
    assert r["only_in_a"] == [H] and r["only_in_b"] == ["extra"] and not r["identical"]
    by_name = {c["name"]: c for c in r["changed"]}
    assert set(by_name) == {W, "model/i/.ATTRIBUTES/VARIABLE_VALUE"}
    assert by_name[W]["max_abs_diff"] == pytest.approx(0.25)
    assert by_name["model/i/.ATTRIBUTES/VARIABLE_VALUE"]["max_abs_diff"] is None
    assert cli(capsys, "diff", src.prefix, src.prefix, "--exit-code")[0] == 0


def test_export_npz_and_safetensors_then_import(tmp_path, capsys):
    src = tf2_checkpoint()
    reader = tf.train.load_checkpoint(src)
    numeric = [n for n, d in reader.get_variable_to_dtype_map().items() if d != tf.string]
    rc, _, err = cli(capsys, "export", src, tmp_path / "w.npz")
    assert rc == 0 and "skipped 2 string" in err and "widened 1" in err
    with np.load(tmp_path / "w.npz") as npz:
        assert sorted(npz.files) == sorted(numeric)
        for n in numeric:
            want = reader.get_tensor(n)
            assert np.array_equal(npz[n], np.asarray(want).astype(npz[n].dtype), equal_nan=True), n

    import safetensors
    rc, _, _ = cli(capsys, "export", src, tmp_path / "w.safetensors")
    assert rc == 0
    loaded = dict(safetensors.deserialize((tmp_path / "w.safetensors").read_bytes()))
    assert loaded["model/b/.ATTRIBUTES/VARIABLE_VALUE"]["dtype"] == "BF16"
    for n in numeric:
        assert bytes(loaded[n]["data"]) == np.ascontiguousarray(reader.get_tensor(n)).tobytes(), n

    rc, _, _ = cli(capsys, "import", tmp_path / "w.safetensors", tmp_path / "back" / "m")
    assert rc == 0
    back = tf.train.load_checkpoint(str(tmp_path / "back" / "m"))
    for n in numeric:
        assert np.asarray(back.get_tensor(n)).tobytes() == np.asarray(reader.get_tensor(n)).tobytes(), n
    rc, out, _ = cli(capsys, "diff", src, tmp_path / "back", "--json")
    r = json.loads(out)
    assert r["changed"] == [] and r["only_in_b"] == [] and len(r["only_in_a"]) == 2


def test_edit_rename_drop_cast_and_tf2_restore(tmp_path, capsys):
    """A renamed, dropped and cast TF2 checkpoint: TensorFlow lists the new names and dtypes, and
    tf.train.Checkpoint.restore still restores every remaining variable through the rewritten
    object graph (the dropped one keeps its initial value)."""
    src = tf2_checkpoint()
    dst = tmp_path / "edited" / "ckpt"
    new_w = "renamed/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    rc, out, _ = cli(capsys, "edit", src, dst, "--rename", f"{W}={new_w}", "--drop", "model/h/",
                     "--rename-regex", r"^model/(u|c)/=model/\1_moved/", "--cast", "model/d/=float32", "--json")
    assert rc == 0
    r = json.loads(out)
    assert r["dropped"] == [H] and r["renamed"][W] == new_w and r["object_graph_updated"]
    reader = tf.train.load_checkpoint(str(dst))
    dtypes = reader.get_variable_to_dtype_map()
    assert new_w in dtypes and W not in dtypes and H not in dtypes
    assert "model/u_moved/.ATTRIBUTES/VARIABLE_VALUE" in dtypes
    assert dtypes["model/d/.ATTRIBUTES/VARIABLE_VALUE"] == tf.float32
    assert os.path.exists(dst.parent / "checkpoint")

    fresh, original = Model(seed=5), Model(seed=0)
    fresh.d = tf.Variable(np.zeros(2, np.float32))  # the cast variable is float32 in the new program
    tf.train.Checkpoint(model=fresh).restore(str(dst)).expect_partial().assert_existing_objects_matched()
    assert np.array_equal(fresh.w.numpy(), original.w.numpy())
    assert np.array_equal(fresh.u.numpy(), original.u.numpy()) and np.array_equal(fresh.c.numpy(), original.c.numpy())
    assert np.array_equal(fresh.d.numpy(), original.d.numpy().astype(np.float32), equal_nan=True)
    assert np.array_equal(fresh.h.numpy(), Model(seed=5).h.numpy())  # dropped: not restored


def test_renamed_tensors_without_the_object_graph_rewrite_do_not_restore(tmp_path):
    """The control for the test above: the same rename with the original object graph fails in TF."""
    src = ck.open(tf2_checkpoint())
    values = {("renamed/kernel/.ATTRIBUTES/VARIABLE_VALUE" if n == W else n): src.read(n) for n in src.names()}
    dst = ck.write(tmp_path / "m", values)
    with pytest.raises(Exception, match="renamed|not found|Key"):
        tf.train.Checkpoint(model=Model(seed=5)).restore(str(dst)).assert_consumed()


def test_edit_only_and_cast_to_half_types(tmp_path, capsys):
    src = tf2_checkpoint()
    rc, out, err = cli(capsys, "edit", src, tmp_path / "o", "--only", "model/(w|i)/", "--cast", "model/w=bfloat16",
                       "--cast", "model/i=float16")
    assert rc == 0 and "not cast (not floating point): model/i/" in err
    reader = tf.train.load_checkpoint(str(tmp_path / "o"))
    assert sorted(reader.get_variable_to_shape_map()) == sorted(
        ["_CHECKPOINTABLE_OBJECT_GRAPH", W, "model/i/.ATTRIBUTES/VARIABLE_VALUE"])
    w = reader.get_tensor(W)
    assert w.dtype == ml_dtypes.bfloat16
    assert np.array_equal(w, ck.open(src).read(W).astype(ml_dtypes.bfloat16))


@pytest.mark.parametrize("argv, message", [
    (["edit", "SRC", "OUT", "--rename", "nope=x"], "does not have"),
    (["edit", "SRC", "OUT", "--drop", "("], "bad --drop regex"),
    (["edit", "SRC", "OUT", "--cast", "w=int8"], "--cast target"),
    (["edit", "SRC", "OUT", "--rename", "part=cube"], "both"),
    (["show", "SRC", "missing"], "not found"),
    (["edit", "TF2", "OUT", "--rename", W + "=plain/name"], "must keep"),
    (["ls", "/nonexistent/ckpt"], "cannot open"),
    (["export", "SRC", "OUT.txt"], "cannot tell the format"),
])
def test_bad_requests_are_one_line_errors(tmp_path, capsys, argv, message):
    argv = [a.replace("SRC", tf1_partitioned()).replace("TF2", tf2_checkpoint()).replace("OUT", str(tmp_path / "out")) for a in argv]
    rc, _, err = cli(capsys, *argv)
    assert rc == 1 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not os.path.exists(tmp_path / "out.index")
