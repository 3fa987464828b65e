"""`tfforge new-op`: the generated project passes our style checks, installs with
`pip install --no-build-isolation` against the installed TensorFlow through tfforge's CMake package, and
its own tests (tfforge.testing) and benchmark (`tfforge bench op`) pass. Its --cuda variant compiles
device code with nvcc and builds CPU-only with nvcc hidden."""

import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
from tfforge._build import cmake_dir  # noqa: E402
from tfforge.errors import TfforgeError  # noqa: E402
from tfforge.scaffold import write_project  # noqa: E402

BIN = str(Path(sys.executable).parent)


def _env(root: Path, path: str | None = None) -> dict:
    # ccache (when present) with paths relative to the project: reruns of the suite compile nothing again.
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CCACHE_BASEDIR=str(root), CCACHE_NOHASHDIR="1",
               PATH=path if path is not None else BIN + os.pathsep + os.environ.get("PATH", ""))
    return env


def _run(cmd, cwd=None, env=None, timeout=900):
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or _env(Path(cwd or ".")), capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


def _new_op(tmp: Path, name: str, *flags) -> Path:
    root = tmp / name
    out = _run([sys.executable, "-m", "tfforge", "new-op", name, "--dir", root, *flags], cwd=tmp)
    assert "pip install --no-build-isolation" in out.stdout
    return root


def _launcher() -> list[str]:
    return ["-C", "cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A --grad --keras project, pip-installed into its own target directory (not into this environment)."""
    tmp = tmp_path_factory.mktemp("newop")
    root = _new_op(tmp, "demo_swish", "--grad", "--keras")
    target = tmp / "site"
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--target", target,
          *_launcher(), root], cwd=root)
    return root, target


def test_cmake_dir_holds_the_package():
    out = _run([sys.executable, "-m", "tfforge", "--cmake-dir"])
    path = Path(out.stdout.strip())
    assert path == cmake_dir()
    assert {"tfforgeConfig.cmake", "tfforgeConfigVersion.cmake", "TensorFlow.cmake", "Cuda.cmake",
            "OpLibrary.cmake"} <= {p.name for p in path.iterdir()}
    assert (path.parent / "include" / "tfforge" / "kernels" / "cpu_rows.h").is_file()
    assert (path.parent / "include" / "tfforge" / "tf" / "op_util.h").is_file()


@pytest.mark.parametrize("flags", [(), ("--grad", "--keras"), ("--cuda", "--grad", "--keras")])
def test_generated_project_passes_style_checks(tmp_path, flags):
    root = tmp_path / "style_op"
    write_project("style_op", root, **{f.strip("-"): True for f in flags})
    files = [p for p in root.rglob("*") if p.is_file()]
    assert {p.relative_to(root).as_posix() for p in files} >= {
        "pyproject.toml", "CMakeLists.txt", "README.md", "cc/style_op_op.cc", "src/style_op/__init__.py",
        "src/style_op/ops.py", "tests/test_style_op.py", "benchmarks/bench_style_op.py"}
    assert (root / "cc" / "style_op_kernel.cu").exists() == ("--cuda" in flags)
    assert (root / "src" / "style_op" / "layers.py").exists() == ("--keras" in flags)
    for path in files:
        text = path.read_text()
        if path.suffix == ".py":
            py_compile.compile(str(path), doraise=True, cfile=str(tmp_path / "pyc"))
        assert not re.search(r"TODO|FIXME|XXX|NotImplementedError|\bstub\b|\{\{|\}\}", text), path
        assert not re.search(r"^\s*pass\s*$", text, re.M), path
        assert all(len(line) <= 120 for line in text.splitlines()), path
        assert not text.endswith("\n\n") and text.endswith("\n"), path
    cmake = (root / "CMakeLists.txt").read_text()
    assert "find_package(tfforge CONFIG REQUIRED" in cmake and "tfforge::tensorflow" in cmake
    assert ("PRIVATE tfforge::cuda" in cmake) == ("--cuda" in flags)
    readme = (root / "README.md").read_text()
    assert readme.count("```bash") == 2


def test_bad_names_and_existing_directories_are_refused(tmp_path):
    for name, message in [("BiasSwish", "bad op name"), ("op_2d", "bad op name"), ("x" * 33, "at most 32"),
                          ("relu", "TensorFlow already has")]:
        with pytest.raises(TfforgeError, match=message):
            write_project(name, tmp_path / "p")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    out = subprocess.run([sys.executable, "-m", "tfforge", "new-op", "fine_op", "--dir", tmp_path / "taken"],
                         capture_output=True, text=True, env=_env(tmp_path))
    assert out.returncode == 1 and "not an empty directory" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "p").exists()


def test_installed_project_passes_its_own_tests(installed):
    root, target = installed
    env = _env(root)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    out = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=root, env=env)
    summary = out.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed(, \d+ warnings?)? in .*", summary), summary  # no failure, error or skip


def test_installed_project_records_its_build(installed):
    from tfforge.ops._loader import read_build_info

    root, target = installed
    info = read_build_info(target / "demo_swish" / "_demo_swish_ops.so")
    import tensorflow as tf

    assert info["tensorflow_version"] == tf.__version__ and info["cxx11_abi"] == 1
    assert info["cuda_version"] == 0 and Path(info["source_dir"]) == root


def test_installed_project_benchmark_runs(installed, tmp_path):
    root, target = installed
    env = _env(root)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    out = _run([sys.executable, root / "benchmarks" / "bench_demo_swish.py", "--shapes", "64x128", "--reps", "2",
                "--json", "--out", tmp_path], cwd=tmp_path, env=env)
    rows = json.loads(out.stdout)["results"]
    assert [(r["direction"], r["variant"]) for r in rows] == [
        (d, v) for d in ("fwd", "fwd+bwd") for v in ("op", "reference", "xla")]
    assert all(r["median_ms"] > 0 and r["gbps"] > 0 for r in rows)
    assert (tmp_path / "demo_swish.json").is_file()


def _cmake_build(root: Path, build: Path, path: str):
    env = _env(root, path)
    env.pop("CUDACXX", None)
    launcher = ["-DCMAKE_CXX_COMPILER_LAUNCHER=ccache"] if shutil.which("ccache") else []
    configure = _run([shutil.which("cmake", path=BIN) or "cmake", "-S", root, "-B", build, "-G", "Ninja",
                      f"-DPython_EXECUTABLE={sys.executable}", "-DCMAKE_BUILD_TYPE=Release", *launcher],
                     cwd=root, env=env)
    _run([shutil.which("cmake", path=BIN) or "cmake", "--build", build], cwd=root, env=env)
    return configure.stdout


@pytest.fixture(scope="module")
def cuda_project(tmp_path_factory):
    return _new_op(tmp_path_factory.mktemp("newop_cuda"), "demo_cuda", "--cuda", "--grad")


# Two more TensorFlow op builds (a few minutes on a small machine): behind the slow marker.
@pytest.mark.slow
def test_cuda_project_compiles_device_code_with_nvcc(cuda_project):
    nvcc = shutil.which("nvcc")
    if nvcc is None:
        pytest.skip("no nvcc on this machine")
    path = os.pathsep.join([BIN, str(Path(nvcc).parent), os.environ.get("PATH", "")])
    log = _cmake_build(cuda_project, cuda_project / "build-nvcc", path)
    assert "CUDA kernels ON" in log
    library = (cuda_project / "build-nvcc" / "_demo_cuda_ops.so").read_bytes()
    assert b".nv_fatbin" in library  # the ELF section holding the kernel's device code


@pytest.mark.slow
def test_cuda_project_builds_cpu_only_without_nvcc(cuda_project):
    cuda_dirs = {str(Path(p).parent) for p in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc") if p}
    path = os.pathsep.join(d for d in [BIN] + os.environ.get("PATH", "").split(os.pathsep)
                           if d not in cuda_dirs and not (Path(d) / "nvcc").exists())
    log = _cmake_build(cuda_project, cuda_project / "build-cpu", path)
    assert "CUDA kernels OFF" in log
    library = (cuda_project / "build-cpu" / "_demo_cuda_ops.so").read_bytes()
    assert b".nv_fatbin" not in library and b"TFFORGE_BUILD_INFO" in library
