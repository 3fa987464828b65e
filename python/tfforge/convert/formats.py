"""Which model format a path holds, from its name and a few bytes: no TensorFlow needed."""

from __future__ import annotations

import os
import re
import zipfile

from tfforge.convert.v1_checkpoint import is_v1_checkpoint
from tfforge.errors import ConversionError

KERAS = "keras"            # Keras 3 .keras zip (config.json + model.weights.h5)
KERAS_H5 = "h5"            # Keras HDF5 (.h5 / .hdf5)
SAVEDMODEL = "savedmodel"  # directory with saved_model.pb (or .pbtxt)
CHECKPOINT = "checkpoint"  # TF1 checkpoint prefix (.index + .data) or a directory with a `checkpoint` file
FROZEN = "frozen"          # binary GraphDef .pb
PBTXT = "pbtxt"            # text GraphDef
TFLITE = "tflite"
META = "meta"              # MetaGraphDef .meta

ALL = (KERAS, KERAS_H5, SAVEDMODEL, CHECKPOINT, FROZEN, PBTXT, TFLITE, META)


def detect(path: str) -> str:
    path = os.fspath(path)
    if os.path.isdir(path):
        if any(os.path.exists(os.path.join(path, n)) for n in ("saved_model.pb", "saved_model.pbtxt")):
            return SAVEDMODEL
        if os.path.exists(os.path.join(path, "checkpoint")):
            return CHECKPOINT
        raise ConversionError("directory is neither a SavedModel (no saved_model.pb) nor a checkpoint "
                              "directory (no `checkpoint` file)", path=path)
    if os.path.exists(path + ".index") or is_v1_checkpoint(path):
        return CHECKPOINT
    if not os.path.exists(path):
        raise ConversionError("no such file or directory (nor a checkpoint prefix with a .index file)", path=path)
    lower = path.lower()
    if lower.endswith(".keras"):
        if not zipfile.is_zipfile(path):
            raise ConversionError("a .keras file should be a zip archive", path=path, offset=0)
        return KERAS
    if lower.endswith((".h5", ".hdf5")):
        with open(path, "rb") as f:
            if f.read(8) != b"\x89HDF\r\n\x1a\n":
                raise ConversionError("not an HDF5 file (bad signature)", path=path, offset=0)
        return KERAS_H5
    if lower.endswith(".tflite"):
        return TFLITE
    if lower.endswith(".meta"):
        return META
    if lower.endswith((".pbtxt", ".txt")):
        return PBTXT
    if lower.endswith(".index") and os.path.exists(path):
        return CHECKPOINT
    if lower.endswith((".pb", ".graphdef")):
        return FROZEN
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == b"TFL3":
        return TFLITE
    raise ConversionError("cannot tell the model format from the name; use one of .pb .pbtxt .keras .h5 "
                          ".tflite .meta, a SavedModel directory or a checkpoint prefix", path=path)


def checkpoint_prefix(path: str) -> str:
    """The checkpoint prefix for a prefix, a `.index`/`.data-*` file name, or a directory whose
    `checkpoint` file names the latest checkpoint (relative paths are relative to that directory)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        state = os.path.join(path, "checkpoint")
        if not os.path.exists(state):
            raise ConversionError("directory has no `checkpoint` file", path=path)
        with open(state, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', text, re.M)
        if not m:
            raise ConversionError("the `checkpoint` file names no model_checkpoint_path", path=state)
        prefix = m.group(1).encode().decode("unicode_escape")
        if not os.path.isabs(prefix):
            prefix = os.path.join(path, prefix)
        if not os.path.exists(prefix + ".index") and not is_v1_checkpoint(prefix):
            # Checkpoints moved with their directory keep absolute paths of the old place.
            moved = os.path.join(path, os.path.basename(prefix))
            if os.path.exists(moved + ".index") or is_v1_checkpoint(moved):
                return moved
            raise ConversionError(f"the `checkpoint` file names {prefix}, which has no .index file", path=state)
        return prefix
    for suffix in (".index", ".meta"):
        if path.endswith(suffix):
            return path[: -len(suffix)]
    m = re.match(r"(.*)\.data-\d+-of-\d+$", path)
    return m.group(1) if m else path
