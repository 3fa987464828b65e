"""tfforge.ops.load_library(path) checks the build record an op library carries (TensorFlow version,
C++11 ABI, CUDA) against the running TensorFlow before loading it, and reports a mismatch in one
sentence naming both sides and the rebuild command, never as an undefined symbol."""

import shutil
from types import SimpleNamespace

import pytest

tf = pytest.importorskip("tensorflow")
import tfforge.ops  # noqa: E402
from tfforge._build import ops_library_path  # noqa: E402
from tfforge.errors import OpsNotBuiltError, TensorFlowVersionMismatch  # noqa: E402
from tfforge.ops._loader import check_build, read_build_info  # noqa: E402


def _patched_copy(tmp_path, old: bytes, new: bytes):
    """_ops.so with its embedded build record edited (same length, so the ELF file stays valid)."""
    assert len(old) == len(new)
    data = ops_library_path().read_bytes()
    start = data.index(b"TFFORGE_BUILD_INFO{")
    end = data.index(b"\0", start)
    record = data[start:end]
    assert old in record, record
    path = tmp_path / "_ops_copy.so"
    path.write_bytes(data[:start] + record.replace(old, new) + data[end:])
    return path


def _one_sentence(message: str):
    assert message.count("; ") == 1 and ". " not in message and "\n" not in message
    assert "undefined symbol" not in message


def test_own_library_carries_its_build_record():
    info = read_build_info(ops_library_path())
    assert info["library"] == "_ops" and info["tensorflow_version"] == tf.__version__
    assert info["cxx11_abi"] == 1 and isinstance(info["cuda_version"], int)
    assert tfforge.ops.load_library(ops_library_path()) is tfforge.ops.load_library()


def test_older_tensorflow_in_the_record_is_refused(tmp_path):
    running = tf.__version__
    major, minor = running.split(".")[:2]
    major_minor = f"{major}.{minor}".encode()
    older = f"{major}.{int(minor) - 1:0{len(minor)}d}".encode()  # e.g. 2.21 -> 2.20, same length
    path = _patched_copy(tmp_path, b'"tensorflow_version": "' + major_minor, b'"tensorflow_version": "' + older)
    with pytest.raises(TensorFlowVersionMismatch) as info:
        tfforge.ops.load_library(path)
    message = str(info.value)
    _one_sentence(message)
    assert f"built against TensorFlow {older.decode()}" in message and f"TensorFlow {running} is installed" in message
    assert "pip install --no-build-isolation --force-reinstall --no-deps" in message


def test_other_cxx11_abi_in_the_record_is_refused(tmp_path):
    path = _patched_copy(tmp_path, b'"cxx11_abi": 1', b'"cxx11_abi": 0')
    with pytest.raises(TensorFlowVersionMismatch) as info:
        tfforge.ops.load_library(path)
    message = str(info.value)
    _one_sentence(message)
    assert "_GLIBCXX_USE_CXX11_ABI=0" in message and "_GLIBCXX_USE_CXX11_ABI=1" in message


def _fake_tf(cuda_version):
    build = {"is_cuda_build": bool(cuda_version), **({"cuda_version": cuda_version} if cuda_version else {})}
    return SimpleNamespace(__version__="2.21.0", sysconfig=SimpleNamespace(
        get_compile_flags=lambda: ["-D_GLIBCXX_USE_CXX11_ABI=1"], get_build_info=lambda: build))


def test_cuda_major_version_mismatch_is_refused():
    info = {"tensorflow_version": "2.21.0", "cxx11_abi": 1, "cuda_version": 12040, "source_dir": ""}
    with pytest.raises(TensorFlowVersionMismatch) as exc:
        check_build(info, _fake_tf("13.0.1"), "_my_ops.so")
    _one_sentence(str(exc.value))
    assert "CUDA 12.4" in str(exc.value) and "CUDA 13" in str(exc.value)
    check_build(info, _fake_tf("12.9.0"), "_my_ops.so")  # same major: the runtime is compatible
    check_build(info, _fake_tf(None), "_my_ops.so")  # a CPU-only TensorFlow never runs the GPU kernels


def test_libraries_without_a_record_and_missing_files(tmp_path):
    plain = tmp_path / "plain.so"
    plain.write_bytes(b"\x7fELF not really")
    assert read_build_info(plain) is None
    with pytest.raises(OpsNotBuiltError, match="no op library at this path"):
        tfforge.ops.load_library(tmp_path / "missing.so")
    empty = tmp_path / "empty.so"
    empty.write_bytes(b"")
    assert read_build_info(empty) is None


def test_corrupt_record_is_one_error(tmp_path):
    path = tmp_path / "bad.so"
    shutil.copyfile(ops_library_path(), path)
    data = path.read_bytes()
    start = data.index(b"TFFORGE_BUILD_INFO{") + len(b"TFFORGE_BUILD_INFO{")
    path.write_bytes(data[:start] + b"@" + data[start + 1:])
    with pytest.raises(OpsNotBuiltError, match="build record in the op library is corrupt"):
        read_build_info(path)
