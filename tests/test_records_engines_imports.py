"""The engine modules (Hugging Face, Spark, Ray) import no TensorFlow: their code runs on workers that
do not have it."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module,needs", [("tfforge.records.hf", None), ("tfforge.records.spark", None),
                                          ("tfforge.records.ray", "ray")])
def test_engine_module_imports_no_tensorflow(module, needs):
    if needs:
        pytest.importorskip(needs)
    code = f"import sys, {module}; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
