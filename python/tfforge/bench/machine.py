"""What a benchmark ran on, recorded beside its numbers: platform, CPUs, load, and TensorFlow when it is loaded."""

from __future__ import annotations

import os
import platform
import sys


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info(**extra) -> dict:
    """Platform, Python, CPU model and count, load average at the time of the call, TensorFlow's version
    and GPUs when TensorFlow is already imported (never imports it), plus ``extra``."""
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpu_model": _cpu_model(),
            "cpu_count": os.cpu_count()}
    if hasattr(os, "getloadavg"):
        info["load_average"] = [round(v, 2) for v in os.getloadavg()]
    tf = sys.modules.get("tensorflow")
    if tf is not None and hasattr(tf, "__version__"):
        info["tensorflow"] = tf.__version__
        info["gpu"] = [d.name for d in tf.config.list_logical_devices("GPU")]
    info.update(extra)
    return info
