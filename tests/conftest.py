"""Shared test helpers. TensorFlow is part of the test extra; tests needing it import it directly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Blocks `import tensorflow` (and keras, which would import it) inside a child interpreter, to
# prove the TensorFlow-free parts of tfforge work on a machine without it.
BLOCK_TENSORFLOW = textwrap.dedent("""
    import sys
    class _BlockTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras'):
                raise ModuleNotFoundError(f"No module named '{name}' (blocked by test)", name=name)
            return None
    sys.meta_path.insert(0, _BlockTensorFlow())
""")


def run_python(code: str, *, block_tensorflow: bool = False, env: dict | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter (optionally with TensorFlow blocked) and returns the result."""
    prelude = BLOCK_TENSORFLOW if block_tensorflow else ""
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=full_env)


@pytest.fixture
def python_runner():
    return run_python
