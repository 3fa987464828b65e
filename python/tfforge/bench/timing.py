"""Wall time of a callable: repeated calls, median and spread (quartiles), best; for TensorFlow work it
waits for queued device work without copying results to the host."""

from __future__ import annotations

import os
import statistics
import time
from dataclasses import dataclass, field


def _sync():
    """Waits for queued GPU work (a no-op on the CPU, where TensorFlow ops finish before returning)."""
    from tfforge import _tf
    tf = _tf.tf()

    sync = getattr(getattr(tf.test, "experimental", None), "sync_devices", None)
    if sync is not None and tf.config.list_logical_devices("GPU"):
        sync()


@dataclass
class Samples:
    """Seconds of each timed call, and what the last call returned."""
    seconds: list[float] = field(default_factory=list)
    result: object = None

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.seconds) < 2:
            return self.seconds[0], self.seconds[0]
        q = statistics.quantiles(self.seconds, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def spread_pct(self) -> float:
        """Interquartile range as a percentage of the median."""
        q1, q3 = self.quartiles
        return 100.0 * (q3 - q1) / self.median if self.median > 0 else 0.0


def fresh_output(path: str):
    """For sample(before=...): removes the previous call's output and syncs the removal, untimed, so no
    timed call pays for freeing the last one's blocks (0.15 s for 537 MB on this disk)."""
    def remove():
        if os.path.lexists(path):
            os.remove(path)
            os.sync()
    return remove


def sample(fn, reps: int, warmup: int = 0, min_seconds: float = 0.0, sync: bool = False,
           before=None) -> Samples:
    """Calls ``fn`` ``warmup`` times untimed, then ``reps`` times timed (more, up to 10x, until
    ``min_seconds`` have passed). With ``sync``, waits for TensorFlow's queued GPU work after each call.
    ``before``: called untimed before each timed call (e.g. to remove the previous call's output)."""
    for _ in range(warmup):
        fn()
    if sync:
        _sync()
    out = Samples()
    start = time.perf_counter()
    while len(out.seconds) < reps or (time.perf_counter() - start) < min_seconds:
        if before is not None:
            before()
        t0 = time.perf_counter()
        out.result = fn()
        if sync:
            _sync()
        out.seconds.append(time.perf_counter() - t0)
        if len(out.seconds) >= 10 * reps:
            break
    return out


def median_ms(fn, *, warmup: int = 2, reps: int = 10, min_seconds: float = 0.0) -> float:
    """Median milliseconds of ``fn()`` over ``reps`` calls of TensorFlow work (more if ``min_seconds`` is not
    reached)."""
    return sample(fn, reps, warmup=warmup, min_seconds=min_seconds, sync=True).median * 1e3
