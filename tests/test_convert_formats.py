"""tfforge convert between formats; every output is loaded by TensorFlow's own loader and compared."""

from __future__ import annotations

import os

import numpy as np
import pytest

from test_convert_models import X4, keras_mlp_path, keras_two_io, run_frozen, savedmodel_two_signatures, \
    tf1_checkpoint

tf = pytest.importorskip("tensorflow")

from tfforge.convert import convert, freeze, verify  # noqa: E402
from tfforge.errors import ConversionError  # noqa: E402


def _serve(path, tags=None, signature="serving_default"):
    loaded = tf.saved_model.load(str(path), tags=tags)
    return loaded, loaded.signatures[signature]


def test_frozen_to_savedmodel_with_signatures_tags_assets(tmp_path):
    sm, refs = savedmodel_two_signatures()
    pb = tmp_path / "embed.pb"
    freeze(sm, pb, signature="embed")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("a\nb\n")
    dst = tmp_path / "from_frozen"
    result = convert(str(pb), str(dst), "savedmodel", inputs="x", outputs="embedding", tags="serve,gpu",
                     signatures={"norm_only": (["x"], ["norm"])}, assets=[str(vocab)])
    assert result.parity.max_abs == 0.0
    assert (dst / "assets" / "vocab.txt").read_text() == "a\nb\n"
    loaded, fn = _serve(dst, tags=["serve", "gpu"])
    np.testing.assert_allclose(fn(x=tf.constant(X4))["embedding"].numpy(), refs["embed"]["embedding"], rtol=1e-5)
    np.testing.assert_allclose(loaded.signatures["norm_only"](x=tf.constant(X4))["norm"].numpy(),
                               refs["embed"]["norm"], rtol=1e-5)


def test_savedmodel_to_frozen_and_pbtxt_roundtrip(tmp_path):
    sm, refs = savedmodel_two_signatures()
    pb, txt, back = tmp_path / "s.pb", tmp_path / "s.pbtxt", tmp_path / "back.pb"
    result = convert(sm, str(pb), "frozen")
    assert result.parity.max_abs < 1e-6
    convert(str(pb), str(txt), "pbtxt")
    convert(str(txt), str(back), "pb")
    (y,) = run_frozen(back, {"x": X4}, ["scores"])
    np.testing.assert_allclose(y, refs["serving_default"]["scores"], rtol=1e-5)
    with pytest.raises(ConversionError, match="name the output"):
        convert(str(pb), str(tmp_path / "wrong.pb"), "pbtxt")


def test_checkpoint_to_savedmodel_keeps_variables(tmp_path):
    d, refs, _ = tf1_checkpoint()
    dst = tmp_path / "ckpt_sm"
    result = convert(d, str(dst), "savedmodel")
    assert result.parity.max_abs < 1e-6
    assert (dst / "variables" / "variables.index").exists()
    loaded, fn = _serve(dst, tags=["serve"])
    np.testing.assert_allclose(fn(x=tf.constant(X4))["y"].numpy(), refs[2], rtol=1e-6)
    saved = dict(tf.train.list_variables(str(dst / "variables" / "variables")))
    assert saved["w"] == [4, 3] and saved["scale"] == []


def test_keras_to_savedmodel_and_frozen(tmp_path):
    path, ref = keras_mlp_path("keras")
    dst = tmp_path / "keras_sm"
    result = convert(path, str(dst), "savedmodel")
    assert result.parity.max_abs < 1e-5
    _, fn = _serve(dst)
    (y,) = fn(**{fn.structured_input_signature[1].popitem()[0]: tf.constant(X4)}).values()
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-6)
    result = convert(path, str(tmp_path / "k.pb"))
    assert result.to == "frozen" and result.parity.max_abs < 1e-5


def test_verify_reports_a_real_difference(tmp_path):
    d, refs, _ = tf1_checkpoint()
    freeze(os.path.join(d, "model.ckpt-1"), tmp_path / "s1.pb", outputs="y")
    freeze(os.path.join(d, "model.ckpt-2"), tmp_path / "s2.pb", outputs="y")
    np.savez(tmp_path / "in.npz", x=X4)
    report = verify(str(tmp_path / "s1.pb"), str(tmp_path / "s2.pb"), data=str(tmp_path / "in.npz"))
    assert report.samples == 5
    np.testing.assert_allclose(report.outputs[0].max_abs, np.abs(refs[1] - refs[2]).max(), rtol=1e-5)
    assert verify(str(tmp_path / "s2.pb"), d).max_abs < 1e-6


def test_cli_verify_and_convert(tmp_path, capsys):
    from tfforge.cli.main import main
    path, (xa, xb), _ = keras_two_io()
    assert main(["convert", path, str(tmp_path / "two.pb")]) == 0
    out = capsys.readouterr().out
    assert "head1" in out and "head2" in out and "max abs err" in out
    assert main(["verify", path, str(tmp_path / "two.pb"), "--samples", "3", "--tolerance", "1e-4"]) == 0
