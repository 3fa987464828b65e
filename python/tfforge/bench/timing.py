"""Median wall time of a callable, waiting for device work without copying results to the host."""

from __future__ import annotations

import statistics
import time


def _sync():
    """Waits for queued GPU work (a no-op on the CPU, where TensorFlow ops finish before returning)."""
    from tfforge import _tf
    tf = _tf.tf()

    sync = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
    if sync is not None and tf.config.list_logical_devices("GPU"):
        sync()


def median_ms(fn, *, warmup: int = 2, reps: int = 10, min_seconds: float = 0.0) -> float:
    """Median milliseconds of ``fn()`` over ``reps`` calls (more if ``min_seconds`` is not reached)."""
    for _ in range(warmup):
        fn()
    _sync()
    times = []
    start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - start) < min_seconds:
        t0 = time.perf_counter()
        fn()
        _sync()
        times.append((time.perf_counter() - t0) * 1e3)
        if len(times) >= 10 * reps:
            break
    return statistics.median(times)
