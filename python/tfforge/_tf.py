"""The one place tfforge imports TensorFlow and Keras: on first use, with one clear error when missing.

The `tfforge` command calls quiet_startup() before anything imports TensorFlow: TensorFlow's C++
start-up logging, the oneDNN notice and absl/Python warnings are silenced unless the user set
TF_CPP_MIN_LOG_LEVEL themselves (or passed --debug). native_stderr_quiet() then hides what TFLite's
converter and interpreter print straight from C++ (`fully_quantize: 0 ...`, XNNPack lines) around
those calls; it does nothing unless quiet_startup() turned quiet mode on, so library users see
TensorFlow exactly as they configured it.

The `tfforge` command also calls own_process(): the process is the command's, so importing TensorFlow
there (1) hides pandas and matplotlib from Keras during the import, which Keras loads only to accept
DataFrames in fit() and to plot, at 0.5 s and 0.8 s of a 5 s start; they import normally afterwards;
(2) ends with gc.freeze(): the 350,000 objects TensorFlow's import leaves would otherwise be scanned by
every full collection, 0.2 s each, and by the one at interpreter exit, which took 1.1 s.
"""

from __future__ import annotations

import contextlib
import os
import sys

from tfforge.errors import TensorFlowNotInstalled

INSTALL_HINT = "pip install 'tensorflow==2.21.*' (or tensorflow-cpu), then rebuild tfforge from its source directory"
_quiet = False
_silenced = False
_own_process = False
# Optional imports of Keras's that no tfforge command uses (see the module docstring).
_KERAS_EXTRAS_UNUSED = ("pandas", "matplotlib")


def quiet_startup() -> bool:
    """Turns on quiet mode for this process unless the user configured TensorFlow's logging; True if on."""
    global _quiet
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        return False
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    _quiet = True
    return True


def quiet() -> bool:
    return _quiet


def own_process() -> None:
    """Called by the `tfforge` command, never by library code: see the module docstring."""
    global _own_process
    _own_process = True


def import_tensorflow():
    """The tensorflow module, or TensorFlowNotInstalled naming the install that fixes it."""
    global _silenced
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    module = sys.modules.get("tensorflow")
    if module is None:
        try:
            with _hidden(_KERAS_EXTRAS_UNUSED if _own_process else ()):
                import tensorflow as module  # imports Keras too
        except ImportError as exc:
            raise TensorFlowNotInstalled(
                f"this part of tfforge needs TensorFlow, which is not importable ({exc}); install it with: "
                f"{INSTALL_HINT}") from None
        if _own_process:
            import gc
            gc.freeze()
    if _quiet and not _silenced:
        _silenced = True
        _silence_python_logging(module)
    return module


@contextlib.contextmanager
def gc_paused():
    """The cyclic garbage collector off during the block (as it was afterwards). For bounded work that
    allocates many long-lived objects (a Keras model rebuilt and traced): with TensorFlow imported,
    each full collection scans its 350,000 objects for 0.2 s and finds nothing to free."""
    import gc
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextlib.contextmanager
def _hidden(names):
    """Imports of `names` fail as if not installed during the block (unless already imported)."""
    hidden = [n for n in names if n not in sys.modules]
    for name in hidden:
        sys.modules[name] = None
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


def _silence_python_logging(module) -> None:
    import logging
    import warnings

    module.get_logger().setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging
        absl_logging.set_verbosity(absl_logging.ERROR)
    warnings.filterwarnings("ignore", module=r"(tensorflow|keras|tf_keras|absl)(\.|$)")


def tf():
    """tensorflow, imported quietly (see module docstring)."""
    module = import_tensorflow()
    module.get_logger().setLevel("ERROR")
    return module


def keras():
    tf()
    import keras as module
    return module


def load_tfforge_ops() -> bool:
    """Registers tfforge's custom ops so graphs that use them load; False when the op library is absent."""
    tf()
    try:
        import tfforge.ops  # noqa: F401  (registers the ops)
    except Exception:  # a build without _ops.so still converts graphs that do not use them
        return False
    try:
        import tfforge.keras  # noqa: F401  (registers tfforge's Keras layers as serializable)
    except ImportError:
        pass
    return True


@contextlib.contextmanager
def native_stderr_quiet():
    """In quiet mode, sends what native code writes to file descriptor 2 during the block to a
    scratch file (Python's own stderr is flushed first and works again afterwards)."""
    if not _quiet:
        yield
        return
    with contextlib.ExitStack() as stack:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
            import tempfile  # here: the commands that never start TensorFlow do not pay for it
            scratch = stack.enter_context(tempfile.TemporaryFile())
        except (OSError, ValueError, AttributeError):  # no usable fd 2: nothing to hide
            yield
            return
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
