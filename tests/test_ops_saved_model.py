"""A model using the fused ops saves as a SavedModel and loads in a fresh process after
``import tfforge.ops``; without the import TensorFlow's error names the Tfforge op, and tfforge's
helpers explain and fix it."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from _ops_cases import keras, rand, testing, tf
import tfforge.keras as tk
import tfforge.ops as tfops


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("sm") / "model"
    inputs = keras.Input((12,))
    h = tk.DenseGELU(8)(inputs)
    h = tk.LayerNormalization()(h)
    model = keras.Model(inputs, tk.RMSNormalization()(h))
    model.export(str(path), format="tf_saved_model", verbose=False)
    x = rand((3, 12), 1)
    np.save(path.parent / "x.npy", x)
    np.save(path.parent / "y.npy", np.asarray(model(x)))
    return path


def _run(code):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=300)


def test_required_ops_lists_the_tfforge_ops(saved):
    assert {"TfforgeBiasGelu", "TfforgeLayerNorm", "TfforgeRMSNorm"} <= set(tfops.required_ops(saved))


def test_save_saved_model_leaves_a_note(tmp_path):
    class Norm(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4])])
        def __call__(self, x):
            return tfops.rms_norm(x, tf.ones([4]))

    path = tmp_path / "rms"
    tfops.save_saved_model(Norm(), path)
    note = json.loads((path / "assets.extra" / "tfforge.json").read_text())
    assert note["required_ops"] == ["TfforgeRMSNorm"] and "import tfforge.ops" in note["how_to_load"]
    assert tfops.load_saved_model(path)(tf.ones([2, 4])).shape == (2, 4)


def test_save_saved_model_replaces_the_directory_only_when_complete(tmp_path, monkeypatch):
    """Issue 10: save_saved_model wrote straight into the target. Now a save that fails after
    TensorFlow wrote its files (here: while adding the note) leaves the old directory as it was, and
    nothing else; a save that completes replaces it wholly."""
    from tfforge.ops import saved_model as sm

    class Norm(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4])])
        def __call__(self, x):
            return tfops.rms_norm(x, tf.ones([4]))

    path = tmp_path / "rms"
    path.mkdir()
    (path / "old.txt").write_text("the previous model")

    def fail(directory):
        assert (Path(directory) / "saved_model.pb").exists() and Path(directory) != path
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sm, "annotate_saved_model", fail)
    with pytest.raises(Exception, match="No space left"):
        tfops.save_saved_model(Norm(), path)
    assert sorted(os.listdir(tmp_path)) == ["rms"] and os.listdir(path) == ["old.txt"]
    monkeypatch.undo()
    tfops.save_saved_model(Norm(), path)
    assert sorted(os.listdir(tmp_path)) == ["rms"] and not (path / "old.txt").exists()
    assert (path / "saved_model.pb").exists() and (path / "assets.extra" / "tfforge.json").exists()


def test_loads_in_fresh_process_after_import(tmp_path):
    inputs = keras.Input((12,))
    model = keras.Model(inputs, tk.RMSNormalization()(tk.LayerNormalization()(tk.DenseGELU(8)(inputs))))
    path = testing.check_saved_model(model, [rand((3, 12), 1)], imports=["tfforge.ops"], directory=tmp_path, tol=1e-5)
    assert {"TfforgeBiasGelu", "TfforgeLayerNorm", "TfforgeRMSNorm"} <= set(tfops.required_ops(path))


def test_plain_function_round_trip_with_unknown_batch(tmp_path):
    testing.check_saved_model(lambda x, g: tfops.layer_norm(x, g, tf.zeros([6])), [rand((5, 6), 2), rand((6,), 3)],
                              imports=["tfforge.ops"], directory=tmp_path)


def test_without_import_tensorflow_names_the_op(saved):
    out = _run(f"""
        import tensorflow as tf
        tf.saved_model.load({str(saved)!r})
    """)
    assert out.returncode != 0
    assert "Op type not registered 'Tfforge" in out.stderr


def test_load_saved_model_helper_in_fresh_process(saved):
    out = _run(f"""
        import numpy as np, tensorflow as tf
        from tfforge.ops import load_saved_model, saved_model
        m = load_saved_model({str(saved)!r})
        print(m.serve(tf.constant(np.load({str(saved.parent / 'x.npy')!r}))).shape)
        print(saved_model.missing_ops_message("TfforgeLayerNorm"))
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "(3, 8)" in out.stdout
    assert "import tfforge.ops" in out.stdout and "TfforgeLayerNorm" in out.stdout
