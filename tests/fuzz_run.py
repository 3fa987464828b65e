"""Runs one atheris fuzz target (tests/fuzz/<name>.py) for a bounded time, as the fuzz tests do.

The target starts through /bin/sh, which forks it instead of exec'ing it: a process inherits the peak
resident size of the process that spawned it (Linux folds the old memory's high-water mark into
ru_maxrss across exec, and vfork shares it), and libFuzzer's -rss_limit_mb reads that peak. Started
straight from a pytest worker that once held 2.5 GB, a target reported out-of-memory on its first
input."""

from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RSS_LIMIT_MB = 2048


def run_fuzz_target(name: str, tmp_path, seconds: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    """The finished run and the names of the crash / timeout / out-of-memory inputs it left."""
    work = tmp_path / "corpus"
    work.mkdir()
    command = [sys.executable, os.path.join(HERE, "fuzz", f"{name}.py"), f"-max_total_time={seconds}",
               f"-rss_limit_mb={RSS_LIMIT_MB}", "-timeout=10", f"-artifact_prefix={tmp_path}/", str(work),
               os.path.join(HERE, "fuzz", "corpus", name)]
    res = subprocess.run(["/bin/sh", "-c", '"$0" "$@"; status=$?; exit $status', *command],
                         capture_output=True, text=True, timeout=seconds + 120)
    found = [p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "timeout-", "oom-"))]
    return res, found
