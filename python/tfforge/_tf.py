"""The one place tfforge imports TensorFlow and Keras: on first use, with one clear error when missing.

The `tfforge` command calls quiet_startup() before anything imports TensorFlow: TensorFlow's C++
start-up logging, the oneDNN notice and absl/Python warnings are silenced unless the user set
TF_CPP_MIN_LOG_LEVEL themselves (or passed --debug). native_stderr_quiet() then hides what TFLite's
converter and interpreter print straight from C++ (`fully_quantize: 0 ...`, XNNPack lines) around
those calls; it does nothing unless quiet_startup() turned quiet mode on, so library users see
TensorFlow exactly as they configured it.
"""

from __future__ import annotations

import contextlib
import os
import sys

from tfforge.errors import TensorFlowNotInstalled

INSTALL_HINT = "pip install 'tensorflow==2.21.*' (or tensorflow-cpu), then rebuild tfforge from its source directory"
_quiet = False
_silenced = False


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


def import_tensorflow():
    """The tensorflow module, or TensorFlowNotInstalled naming the install that fixes it."""
    global _silenced
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    module = sys.modules.get("tensorflow")
    if module is None:
        try:
            import tensorflow as module
        except ImportError as exc:
            raise TensorFlowNotInstalled(
                f"this part of tfforge needs TensorFlow, which is not importable ({exc}); install it with: "
                f"{INSTALL_HINT}") from None
    if _quiet and not _silenced:
        _silenced = True
        _silence_python_logging(module)
    return module


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
