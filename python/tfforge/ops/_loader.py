"""Loads op libraries into TensorFlow, turning every way that can fail into one clear sentence.

An op library built with tfforge's CMake package (``tfforge_add_op_library``, tfforge's own _ops.so
included) carries a record of what it was built with: the TensorFlow version, the C++11 ABI flag and
the CUDA runtime version. :func:`load_library` compares that record with the running TensorFlow
before ``tf.load_op_library``, so a mismatch is reported naming both sides and the rebuild command,
never as an ``undefined symbol`` trace.
"""

from __future__ import annotations

import functools
import json
import mmap
import re
from pathlib import Path

from tfforge._build import REBUILD_HINT, build_info, ops_library_path
from tfforge._tf import import_tensorflow
from tfforge.errors import OpsNotBuiltError, TensorFlowVersionMismatch

BUILD_INFO_MARKER = b"TFFORGE_BUILD_INFO{"


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(re.split(r"[.+-]", version)[:2])


def check_version(built: str, running: str) -> None:
    """TensorFlow's C++ ABI changes between minor releases, so major.minor must match."""
    if _major_minor(built) != _major_minor(running):
        raise TensorFlowVersionMismatch(
            f"tfforge's op library was built against TensorFlow {built} but TensorFlow {running} is "
            f"installed; rebuild tfforge from its source directory with: {REBUILD_HINT}")


def read_build_info(path) -> dict | None:
    """The build record embedded in an op library by tfforge_add_op_library, or None if it has none."""
    with open(path, "rb") as f:
        try:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # empty file
            return None
        with data:
            start = data.find(BUILD_INFO_MARKER)
            if start < 0:
                return None
            start += len(BUILD_INFO_MARKER) - 1
            end = data.find(b"\0", start)
            raw = data[start:end if end >= 0 else len(data)]
    try:
        info = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise OpsNotBuiltError(f"the build record in the op library is corrupt: {raw[:200]!r}",
                               path=str(path)) from None
    return info if isinstance(info, dict) else None


def rebuild_command(info: dict) -> str:
    source = info.get("source_dir") or ""
    if source and (Path(source) / "pyproject.toml").exists():
        return f"pip install --no-build-isolation --force-reinstall --no-deps {source}"
    return f"(in the library's source directory) {REBUILD_HINT}"


def _running_abi(tf) -> int | None:
    for flag in tf.sysconfig.get_compile_flags():
        m = re.fullmatch(r"-D_GLIBCXX_USE_CXX11_ABI=(\d)", flag)
        if m:
            return int(m.group(1))
    return None


def _running_cuda_major(tf) -> int | None:
    version = str(tf.sysconfig.get_build_info().get("cuda_version") or "")
    return int(version.split(".")[0]) if version[:1].isdigit() else None


def check_build(info: dict, tf, name: str) -> None:
    """Raises TensorFlowVersionMismatch when the library's build record does not fit the running TensorFlow."""
    running = tf.__version__
    rebuild = rebuild_command(info)
    built = str(info.get("tensorflow_version", ""))
    if built and _major_minor(built) != _major_minor(running):
        raise TensorFlowVersionMismatch(
            f"{name} was built against TensorFlow {built} but TensorFlow {running} is installed; "
            f"rebuild it with: {rebuild}")
    built_abi, running_abi = info.get("cxx11_abi"), _running_abi(tf)
    if built_abi in (0, 1) and running_abi is not None and built_abi != running_abi:
        raise TensorFlowVersionMismatch(
            f"{name} was compiled with _GLIBCXX_USE_CXX11_ABI={built_abi} but TensorFlow {running} uses "
            f"_GLIBCXX_USE_CXX11_ABI={running_abi}; rebuild it with: {rebuild}")
    built_cuda, running_cuda = int(info.get("cuda_version") or 0), _running_cuda_major(tf)
    if built_cuda and running_cuda is not None and built_cuda // 1000 != running_cuda:
        raise TensorFlowVersionMismatch(
            f"{name} has CUDA kernels built with CUDA {built_cuda // 1000}.{built_cuda % 1000 // 10} but "
            f"TensorFlow {running} runs on CUDA {running_cuda}; rebuild it with: {rebuild}")


@functools.lru_cache(maxsize=None)
def _load_path(path: str):
    tf = import_tensorflow()
    name = Path(path).name
    if not Path(path).is_file():
        raise OpsNotBuiltError("no op library at this path; build it with: pip install --no-build-isolation "
                               "<its project directory>", path=path)
    info = read_build_info(path)
    if info is not None:
        check_build(info, tf, name)
    try:
        return tf.load_op_library(path)
    except (tf.errors.NotFoundError, OSError) as exc:
        if "undefined symbol" in str(exc) or "symbol lookup" in str(exc):
            built = (info or {}).get("tensorflow_version") or "an unrecorded version"
            rebuild = rebuild_command(info or {})
            raise TensorFlowVersionMismatch(
                f"{name} ({path}) does not match the installed TensorFlow {tf.__version__} (built against "
                f"{built}); rebuild it with: {rebuild}") from None
        raise


def load_library(path=None):
    """Loads an op library after checking its build record; returns the module tf.load_op_library gives
    (its op wrappers are attributes). Without ``path``, tfforge's own _ops.so."""
    if path is not None:
        return _load_path(str(Path(path).resolve()))
    info = build_info()
    own = ops_library_path()
    if not info.ops_built or own is None:
        raise OpsNotBuiltError(
            "tfforge was built without its TensorFlow op library (_ops.so) because TensorFlow was not "
            f"importable at build time; install TensorFlow, then rebuild: {REBUILD_HINT}")
    return _load_path(str(own.resolve()))


def registered_ops() -> list[str]:
    """Names of the ops _ops.so registered (the loaded module exposes each under its op name)."""
    from tfforge._compat.tf import op_registry
    lib = load_library()
    registry = op_registry()
    if not registry:  # the library module exposes each op under its name, and little else
        return sorted(n for n in dir(lib) if n.startswith("Tfforge") and callable(getattr(lib, n)))
    return sorted(n for n in dir(lib) if n.startswith("Tfforge") and registry.value(n) is not None)
