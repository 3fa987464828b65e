"""Loads _ops.so into TensorFlow, turning every way that can fail into one clear sentence."""

from __future__ import annotations

import functools
import re

from tfforge._build import REBUILD_HINT, build_info, ops_library_path
from tfforge._tf import import_tensorflow
from tfforge.errors import OpsNotBuiltError, TensorFlowVersionMismatch


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(re.split(r"[.+-]", version)[:2])


def check_version(built: str, running: str) -> None:
    """TensorFlow's C++ ABI changes between minor releases, so major.minor must match."""
    if _major_minor(built) != _major_minor(running):
        raise TensorFlowVersionMismatch(
            f"tfforge's op library was built against TensorFlow {built} but TensorFlow {running} is "
            f"installed; rebuild tfforge from its source directory with: {REBUILD_HINT}")


@functools.lru_cache(maxsize=None)
def load_library():
    """Returns the module object of _ops.so (its op wrappers are attributes, OP_LIST lists the ops)."""
    info = build_info()
    path = ops_library_path()
    if not info.ops_built or path is None:
        raise OpsNotBuiltError(
            "tfforge was built without its TensorFlow op library (_ops.so) because TensorFlow was not "
            f"importable at build time; install TensorFlow, then rebuild: {REBUILD_HINT}")
    tf = import_tensorflow()
    check_version(info.tensorflow_version, tf.__version__)
    try:
        return tf.load_op_library(str(path))
    except (tf.errors.NotFoundError, OSError) as exc:
        if "undefined symbol" in str(exc) or "symbol lookup" in str(exc):
            raise TensorFlowVersionMismatch(
                f"tfforge's op library ({path}) does not match the installed TensorFlow {tf.__version__} "
                f"(built against {info.tensorflow_version}); rebuild it with: {REBUILD_HINT}") from None
        raise


def registered_ops() -> list[str]:
    """Names of the ops _ops.so registered (the loaded module exposes each under its op name)."""
    from tensorflow.python.framework import op_def_registry
    lib = load_library()
    return sorted(n for n in dir(lib) if n.startswith("Tfforge") and op_def_registry.get(n) is not None)
