"""What tfforge was built with and what it finds at run time (`tfforge doctor`)."""

from __future__ import annotations

import platform
import sys

import tfforge
from tfforge import _native
from tfforge._build import build_info, ops_library_path


def report() -> dict:
    info = build_info()
    rep = {
        "tfforge_version": tfforge.__version__,
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "native_module": _native.__file__,
        "crc32c_path": _native.crc32c_path(),
        "crc32c_hardware_available": bool(_native.crc32c_hardware_available()),
        "ops_library": str(ops_library_path()) if ops_library_path() else None,
        "ops_built_against_tensorflow": info.tensorflow_version or None,
        "cuda_kernels_built": info.cuda_built,
        "cuda_compiler": info.cuda_compiler_version or None,
        "cuda_architectures": info.cuda_architectures if info.cuda_built else None,
        "cxx_compiler": info.cxx_compiler,
    }
    rep.update(_tensorflow_report())
    return rep


def _tensorflow_report() -> dict:
    from tfforge._tf import import_tensorflow
    try:
        tf = import_tensorflow()
    except ImportError:
        return {"tensorflow_version": "not installed", "ops_loaded": False,
                "ops_error": "TensorFlow is not installed", "ops": [], "gpus": []}
    rep = {"tensorflow_version": tf.__version__,
           "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]}
    try:
        from tfforge.ops._loader import registered_ops
        rep.update(ops_loaded=True, ops_error=None, ops=registered_ops())
    except Exception as exc:  # doctor reports every failure instead of raising
        rep.update(ops_loaded=False, ops_error=str(exc), ops=[])
    return rep


def format_report(rep: dict) -> str:
    yes = lambda b: "yes" if b else "no"  # noqa: E731
    ops = ", ".join(rep["ops"]) if rep["ops"] else "-"
    lines = [
        ("tfforge", rep["tfforge_version"]),
        ("Python", rep["python"]),
        ("platform", rep["platform"]),
        ("TensorFlow", rep["tensorflow_version"]),
        ("_ops.so built against", rep["ops_built_against_tensorflow"] or "not built"),
        ("_ops.so loads", yes(rep["ops_loaded"]) + ("" if rep["ops_loaded"] else f" ({rep['ops_error']})")),
        ("registered ops", ops),
        ("CUDA kernels built", yes(rep["cuda_kernels_built"])
         + (f" (nvcc {rep['cuda_compiler']}, sm {rep['cuda_architectures']})" if rep["cuda_kernels_built"] else "")),
        ("GPUs TensorFlow sees", ", ".join(rep["gpus"]) if rep["gpus"] else "none"),
        ("CRC32C path", rep["crc32c_path"] + ("" if rep["crc32c_hardware_available"] else " (no SSE4.2 on this CPU)")),
        ("C++ compiler", rep["cxx_compiler"]),
    ]
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in lines)
