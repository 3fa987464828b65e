"""Facts recorded by the build (build_info.json, written by CMake next to the native modules)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REBUILD_HINT = "pip install --no-build-isolation --force-reinstall --no-deps ."


@dataclass(frozen=True)
class BuildInfo:
    tfforge_version: str
    tensorflow_version: str  # the TensorFlow _ops.so was compiled against; "" when not built
    ops_built: bool
    cuda_built: bool
    cuda_compiler_version: str
    cuda_architectures: str
    cxx_compiler: str


def _find(name: str) -> Path | None:
    """Locates a build artifact, in the package directory or (editable installs) the build tree."""
    candidate = PACKAGE_DIR / name
    if candidate.exists():
        return candidate
    try:  # editable install: scikit-build-core maps built files through its redirect finder
        import tfforge._native as native  # noqa: F401  (the .so lives in the build tree with the others)
        candidate = Path(native.__file__).resolve().parent / name
        if candidate.exists():
            return candidate
    except ImportError:
        pass
    return None


@functools.lru_cache(maxsize=None)
def build_info() -> BuildInfo:
    path = _find("build_info.json")
    if path is None:
        raise FileNotFoundError(f"tfforge's build_info.json is missing from {PACKAGE_DIR}; the build is incomplete: {REBUILD_HINT}")
    raw = json.loads(path.read_text())
    on = lambda v: str(v).upper() in ("ON", "TRUE", "1", "YES")  # noqa: E731
    return BuildInfo(
        tfforge_version=raw["tfforge_version"],
        tensorflow_version=raw["tensorflow_version"],
        ops_built=on(raw["ops_built"]),
        cuda_built=on(raw["cuda_built"]),
        cuda_compiler_version=raw["cuda_compiler_version"],
        cuda_architectures=raw["cuda_architectures"],
        cxx_compiler=raw["cxx_compiler"],
    )


def ops_library_path() -> Path | None:
    return _find("_ops.so")


def cmake_dir() -> Path | None:
    """The directory of tfforge's installed CMake package (tfforgeConfig.cmake), for find_package(tfforge)."""
    config = _find("cmake/tfforgeConfig.cmake")
    return config.parent if config is not None else None
