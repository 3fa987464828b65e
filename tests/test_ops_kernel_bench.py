"""The standalone kernel program (no TensorFlow): built in the CMake build tree, it checks every CPU
kernel and dtype against a double-precision reference (and CUDA against CPU when a GPU exists)."""

import glob
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _build_dir():
    dirs = [Path(p) for p in glob.glob(str(ROOT / "build" / "*" / "CMakeCache.txt"))]
    return dirs[0].parent if dirs else None


def _cmake():
    beside_python = Path(sys.executable).parent / "cmake"  # a venv's cmake, when the venv is not activated
    return str(beside_python) if beside_python.exists() else shutil.which("cmake")


@pytest.fixture(scope="module")
def kernel_bench():
    build = _build_dir()
    if build is None:
        pytest.skip("no CMake build tree under build/ (pip install tfforge from this source tree first)")
    exe = build / "tfforge_kernel_bench"
    if _cmake():  # (re)build it: incremental, and the target is not part of the installed package
        subprocess.run([_cmake(), "--build", str(build), "--target", "tfforge_kernel_bench"], check=True,
                       capture_output=True, timeout=900)
    if not exe.exists():
        pytest.skip("tfforge_kernel_bench is not built and no cmake is available to build it")
    return exe


def test_kernels_match_double_reference(kernel_bench):
    out = subprocess.run([str(kernel_bench), "--check-only"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 failed" in out.stdout and "all checks passed" in out.stdout


def test_timing_mode_prints_gbps(kernel_bench):
    out = subprocess.run([str(kernel_bench), "--op", "layer_norm", "--dtype", "float32", "--shape", "256x512",
                          "--reps", "2"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines() if line.startswith("layer_norm.")]
    assert {r[0] for r in rows} == {"layer_norm.fwd", "layer_norm.bwd"}
    assert all(float(r[-1]) > 0 for r in rows)  # GB/s column


def test_bad_arguments_exit_2(kernel_bench):
    out = subprocess.run([str(kernel_bench), "--shape", "axb"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "usage" in out.stderr
