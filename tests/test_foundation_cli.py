"""`tfforge doctor` (text and --json) and `tfforge demo`, run as the installed command."""

import json
import shutil
import subprocess
import sys

import pytest


def tfforge_cmd(*args, timeout=600):
    exe = shutil.which("tfforge")
    cmd = [exe] if exe else [sys.executable, "-m", "tfforge.cli.main"]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=timeout,
                          env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.fixture(scope="module")
def doctor_json():
    out = tfforge_cmd("doctor", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_doctor_json_has_every_fact(doctor_json):
    import tensorflow as tf
    import tfforge
    rep = doctor_json
    assert rep["tfforge_version"] == tfforge.__version__
    assert rep["python"].startswith("CPython 3.")
    assert rep["tensorflow_version"] == tf.__version__
    assert rep["ops_loaded"] is True and "TfforgeCrc32c" in rep["ops"]
    assert isinstance(rep["cuda_kernels_built"], bool)
    assert rep["gpus"] == [d.name for d in tf.config.list_physical_devices("GPU")]
    assert rep["crc32c_path"] in ("sse4.2", "portable")


def test_doctor_text_matches_json(doctor_json):
    out = tfforge_cmd("doctor")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for label in ("tfforge", "Python", "TensorFlow", "_ops.so loads", "registered ops",
                  "CUDA kernels built", "GPUs TensorFlow sees", "CRC32C path"):
        assert label in text
    assert doctor_json["tensorflow_version"] in text
    assert doctor_json["crc32c_path"] in text


# What the README's first command does not install (requirements/build.txt, then tfforge's own
# dependencies): the demo must not need any of it (issue 10: step 3 failed on a fresh venv with
# "No module named 'pyarrow'").
NOT_IN_A_FRESH_VENV = ("pyarrow", "pandas", "PIL", "matplotlib", "apache_beam", "safetensors", "pytest",
                       "hypothesis", "datasets", "ray", "pyspark", "tfrecord", "ai_edge_litert")
DEMO_IN_A_FRESH_VENV = f"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_IN_A_FRESH_VENV!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not in a fresh venv)", name=name)
sys.meta_path.insert(0, Block())
from tfforge.cli.main import main
sys.exit(main(["demo"]))
"""


def test_demo_runs_every_step():
    out = subprocess.run([sys.executable, "-c", DEMO_IN_A_FRESH_VENV], capture_output=True, text=True, timeout=600,
                         env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "FAILED" not in out.stdout
    assert "0xe3069283" in out.stdout
    assert "steps ok" in out.stdout


def test_help_and_unknown_command():
    assert tfforge_cmd("--help").returncode == 0
    assert tfforge_cmd("no-such-command").returncode != 0
