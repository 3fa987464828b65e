"""SavedModels that use tfforge ops.

A SavedModel stores op *names* only; the kernels come from the process that loads it. So a model with
tfforge ops loads wherever ``import tfforge.ops`` ran first. Without that import, TensorFlow's loader
fails before any tfforge code can run, with its own message, which names the op:
``Op type not registered 'TfforgeLayerNorm' in binary running on ...``. The ``Tfforge`` prefix is the
clue; tfforge cannot change TensorFlow's text. This module gives the tools around that: list the
tfforge ops a SavedModel needs (without TensorFlow loading it), leave a note inside the SavedModel
directory for whoever finds it (``assets.extra/``, which TensorFlow's loader ignores), and load it
with the ops registered.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from tfforge._io import atomic_directory, write_text
from tfforge._tf import import_tensorflow
from tfforge.ops._loader import load_library

_NOT_REGISTERED = re.compile(r"Op type not registered '([^']+)'")


def required_ops(path) -> list[str]:
    """Names of the tfforge ops (``Tfforge*``) the SavedModel at ``path`` uses, from its
    saved_model.pb (graph and function library)."""
    from tensorflow.core.protobuf import saved_model_pb2

    sm = saved_model_pb2.SavedModel()
    sm.ParseFromString((Path(path) / "saved_model.pb").read_bytes())
    names = set()
    for mg in sm.meta_graphs:
        names.update(n.op for n in mg.graph_def.node)
        for fn in mg.graph_def.library.function:
            names.update(n.op for n in fn.node_def)
    return sorted(n for n in names if n.startswith("Tfforge"))


def missing_ops_message(op_name: str) -> str:
    """The explanation for TensorFlow's "Op type not registered 'Tfforge...'" error."""
    return (f"the model uses tfforge's custom op '{op_name}', which is registered by importing tfforge.ops: "
            "run `import tfforge.ops` before tf.saved_model.load / keras.models.load_model "
            "(or load with tfforge.ops.load_saved_model)")


NOTE_NAME = "tfforge.json"


def annotate_saved_model(path) -> Path | None:
    """Writes ``assets.extra/tfforge.json`` into the SavedModel at ``path``: the tfforge ops it needs and
    how to load it. Returns the note's path, or None when the model uses no tfforge op."""
    ops = required_ops(path)
    if not ops:
        return None
    import tfforge

    note = {"tfforge_version": tfforge.__version__, "required_ops": ops,
            "how_to_load": "pip install tfforge; then `import tfforge.ops` before tf.saved_model.load "
                           "(or use tfforge.ops.load_saved_model(path))"}
    target = Path(path) / "assets.extra" / NOTE_NAME
    target.parent.mkdir(exist_ok=True)
    write_text(target, json.dumps(note, indent=2))
    return target


def save_saved_model(obj, path, signatures=None, options=None) -> None:
    """``tf.saved_model.save`` plus :func:`annotate_saved_model`, atomically: the SavedModel is built in a
    temporary directory beside ``path`` and replaces it only when complete (a failed or interrupted save
    leaves the old directory, or nothing)."""
    tf = import_tensorflow()
    with atomic_directory(path) as tmp:
        tf.saved_model.save(obj, tmp, signatures=signatures, options=options)
        annotate_saved_model(tmp)


def load_saved_model(path, tags=None, options=None):
    """``tf.saved_model.load`` with tfforge's ops registered. If the model needs a tfforge op this
    build lacks (a model saved by a newer tfforge), the error says which and what to do."""
    tf = import_tensorflow()
    lib = load_library()
    try:
        return tf.saved_model.load(str(path), tags=tags, options=options)
    except tf.errors.NotFoundError as exc:
        match = _NOT_REGISTERED.search(str(exc))
        if match and match.group(1).startswith("Tfforge"):
            have = sorted(n for n in dir(lib) if n.startswith("Tfforge"))
            raise tf.errors.NotFoundError(
                None, None,
                f"{path}: the model uses tfforge op '{match.group(1)}', which this tfforge build does not have "
                f"(it has: {', '.join(have)}); upgrade tfforge to the version that saved the model") from exc
        raise
