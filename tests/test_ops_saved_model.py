"""A model using the fused ops saves as a SavedModel and loads in a fresh process after
``import tfforge.ops``; without the import TensorFlow's error names the Tfforge op, and tfforge's
helpers explain and fix it."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from _ops_cases import keras, rand, tf
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


def test_loads_in_fresh_process_after_import(saved):
    out = _run(f"""
        import numpy as np, tensorflow as tf
        import tfforge.ops
        m = tf.saved_model.load({str(saved)!r})
        x = np.load({str(saved.parent / 'x.npy')!r})
        y = m.serve(tf.constant(x)).numpy()
        print("maxdiff", float(np.max(np.abs(y - np.load({str(saved.parent / 'y.npy')!r})))))
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    assert float(out.stdout.split("maxdiff")[1]) <= 1e-5


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
