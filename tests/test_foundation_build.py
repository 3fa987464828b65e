"""The build: what each native artifact links, CUDA on/off, and incremental rebuilds."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import tfforge._native
from tfforge._build import build_info, ops_library_path

REPO = Path(__file__).resolve().parents[1]


def linked_libraries(path) -> str:
    return subprocess.run(["ldd", str(path)], capture_output=True, text=True, check=True).stdout


def test_native_links_neither_tensorflow_nor_protobuf():
    libs = linked_libraries(tfforge._native.__file__)
    assert "libstdc++" in libs  # ldd really listed the dependencies
    assert "tensorflow" not in libs
    assert "protobuf" not in libs


def test_ops_library_links_tensorflow_framework():
    assert build_info().ops_built, "the test environment has TensorFlow, so _ops.so must be built"
    libs = linked_libraries(ops_library_path())
    assert "libtensorflow_framework.so.2 =>" in libs
    assert "not found" not in libs


def test_cuda_kernels_built_whenever_nvcc_exists():
    assert build_info().cuda_built == (shutil.which("nvcc") is not None)


def test_cuda_kernels_are_compiled_into_the_op_library():
    if not build_info().cuda_built:
        pytest.skip("built without nvcc")
    sections = subprocess.run(["readelf", "-S", str(ops_library_path())], capture_output=True, text=True).stdout
    assert ".nv_fatbin" in sections  # device code for the kernels, embedded by nvcc


def _cmake(*args, cwd=None, env=None):
    return subprocess.run(["cmake", *args], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def native_only_build(tmp_path_factory):
    """Configures and builds _native alone, with nvcc hidden from PATH and CUDA on AUTO."""
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake is not on PATH")
    build = tmp_path_factory.mktemp("build")
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not (Path(p) / "nvcc").exists())
    env = dict(os.environ, PATH=path, CUDACXX="", CUDA_PATH="")
    env.pop("CUDACXX")
    import pybind11
    cfg = _cmake("-S", str(REPO), "-B", str(build), "-G", "Ninja", "-DTFFORGE_CUDA=AUTO", "-DTFFORGE_OPS=OFF",
                 f"-DPython_EXECUTABLE={sys.executable}", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
                 "-DCMAKE_CUDA_COMPILER=", env=env)
    assert cfg.returncode == 0, cfg.stdout + cfg.stderr
    built = _cmake("--build", str(build), "--target", "_native", env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    return build, env, cfg.stdout


def test_build_works_without_nvcc(native_only_build):
    build, _, configure_log = native_only_build
    assert "CUDA kernels OFF" in configure_log
    assert list(build.glob("_native*.so"))
    assert '"cuda_built": "OFF"' in (build / "build_info.json").read_text()


def test_rebuild_after_one_file_change_is_incremental(native_only_build):
    build, env, _ = native_only_build
    ninja = shutil.which("ninja") or str(Path(sys.executable).parent / "ninja")
    again = subprocess.run([ninja, "-C", str(build), "_native"], capture_output=True, text=True, env=env)
    assert "no work to do" in again.stdout
    source = REPO / "cc" / "record" / "crc32c.cc"
    os.utime(source)  # touch: newer than its object file
    rebuilt = subprocess.run([ninja, "-C", str(build), "_native"], capture_output=True, text=True, env=env)
    assert rebuilt.returncode == 0, rebuilt.stdout
    compiled = [line for line in rebuilt.stdout.splitlines() if "Building CXX object" in line]
    assert len(compiled) == 1 and "crc32c.cc" in compiled[0], rebuilt.stdout
    assert "Re-running CMake" not in rebuilt.stdout  # a touched source does not reconfigure
