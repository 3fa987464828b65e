"""The memory-bandwidth roofline, measured on this machine in the same run as the kernels.

CPU: the best of single- and multi-threaded numpy copies of a buffer well beyond the caches
(bytes read + bytes written per second). GPU: a TensorFlow elementwise op over a large tensor
(one read, one write per element)."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np


def _best_seconds(fn, reps: int) -> float:
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def cpu_copy_gbps(megabytes: int = 128, reps: int = 7) -> float:
    """GB/s of copying ``megabytes`` (read + write counted), best of single- and multi-threaded."""
    n = megabytes * (1 << 20) // 4
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    threads = max(1, os.cpu_count() or 1)
    chunks = np.array_split(np.arange(n), threads)
    bounds = [(int(c[0]), int(c[-1]) + 1) for c in chunks if len(c)]

    def parallel_copy():
        with ThreadPoolExecutor(threads) as pool:  # numpy releases the GIL while copying
            list(pool.map(lambda b: np.copyto(dst[b[0]:b[1]], src[b[0]:b[1]]), bounds))

    seconds = min(_best_seconds(lambda: np.copyto(dst, src), reps), _best_seconds(parallel_copy, reps))
    return 2 * src.nbytes / seconds / 1e9


def gpu_copy_gbps(megabytes: int = 512, reps: int = 20) -> float:
    from tfforge import _tf
    tf = _tf.tf()

    from tfforge.bench.timing import median_ms

    with tf.device("/GPU:0"):
        x = tf.ones([megabytes * (1 << 20) // 4], tf.float32)
        f = tf.function(lambda t: -t)
        ms = median_ms(lambda: f(x), reps=reps)
    return 2 * megabytes * (1 << 20) / (ms / 1e3) / 1e9


def measured_gbps(device: str) -> float:
    return gpu_copy_gbps() if device == "gpu" else cpu_copy_gbps()
