"""A SavedModel round trip in a fresh process: the op is found again after importing its package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np

from tfforge._tf import import_tensorflow

_CHILD = """
import json, sys
import numpy as np
import tensorflow as tf
for module in {imports!r}:
    __import__(module)
loaded = tf.saved_model.load({path!r})
data = np.load({data!r})
inputs = [tf.constant(data[f"x{{i}}"]) for i in range({n})]
outputs = tf.nest.flatten(loaded.serve(*inputs))
np.savez({result!r}, *[np.asarray(tf.cast(o, tf.float32) if o.dtype.is_floating else o) for o in outputs])
print(json.dumps([o.dtype.name for o in outputs]))
"""


def _keras_model(obj) -> bool:
    return hasattr(obj, "export") and hasattr(obj, "layers")


def check_saved_model(op_or_model, inputs, imports=(), directory=None, input_signature=None, tol: float = 0.0,
                      timeout: float = 300) -> Path:
    """Saves ``op_or_model`` (a function of tensors, or a Keras model) as a SavedModel whose signature
    leaves the first dimension unknown, loads it in a fresh Python process that imports only
    ``imports`` (the op's package), calls it on ``inputs`` and checks the result against this process's
    within ``tol``. Returns the SavedModel's path. A SavedModel stores op names, not kernels, so the
    fresh process finds the op only if importing the package registers it."""
    tf = import_tensorflow()
    inputs = [tf.convert_to_tensor(t) for t in inputs]
    directory = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="tfforge_sm_"))
    path = directory / "saved_model"
    if _keras_model(op_or_model):
        op_or_model.export(str(path), format="tf_saved_model", verbose=False)
        expected = op_or_model(*inputs)
    else:
        signature = input_signature or [tf.TensorSpec([None] + t.shape.as_list()[1:], t.dtype) if t.shape.rank
                                        else tf.TensorSpec(t.shape, t.dtype) for t in inputs]
        module = tf.Module()
        module.serve = tf.function(op_or_model, input_signature=signature)
        tf.saved_model.save(module, str(path))
        expected = op_or_model(*inputs)
    data = directory / "inputs.npz"
    np.savez(data, **{f"x{i}": np.asarray(t) for i, t in enumerate(inputs)})
    result = directory / "outputs.npz"
    code = _CHILD.format(imports=list(imports), path=str(path), data=str(data), n=len(inputs), result=str(result))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise AssertionError(f"loading the SavedModel in a fresh process (imports: {list(imports)}) failed: {tail}")
    got = np.load(result)
    want = tf.nest.flatten(expected)
    if len(got.files) != len(want):
        raise AssertionError(f"the reloaded SavedModel gives {len(got.files)} outputs, the original {len(want)}")
    for i, w in enumerate(want):
        w = np.asarray(tf.cast(w, tf.float32) if w.dtype.is_floating else w)
        g = got[f"arr_{i}"]
        if g.shape != w.shape or not np.allclose(g, w, rtol=0, atol=tol, equal_nan=True):
            raise AssertionError(f"output {i} of the reloaded SavedModel differs from the original's")
    if json.loads(proc.stdout.strip().splitlines()[-1]) != [t.dtype.name for t in want]:
        raise AssertionError("the reloaded SavedModel's output dtypes differ from the original's")
    return path
