"""Compares two checkpoints tensor by tensor: names only in one, dtype/shape changes, and the maximum
absolute difference of each common tensor (NaN where both hold NaN counts as equal)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tfforge.checkpoint import Checkpoint, _dtypes


@dataclass
class Change:
    name: str
    a: str          # "float32 (3, 4)"
    b: str
    max_abs_diff: float | None = None  # None when dtype or shape differ; strings: 0.0 or 1.0 (differ)


@dataclass
class DiffReport:
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)   # dtype/shape changed, or values differ
    equal: int = 0

    @property
    def identical(self) -> bool:
        return not (self.only_a or self.only_b or self.changed)


def max_abs_diff(x: np.ndarray, y: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    if x.dtype == object:
        return 0.0 if all(a == b for a, b in zip(x.reshape(-1), y.reshape(-1))) else 1.0
    if x.dtype.kind in "iub":
        wide = np.int64 if x.dtype.kind != "u" else np.uint64
        a, b = x.astype(wide), y.astype(wide)
        return float(np.max(np.maximum(a, b) - np.minimum(a, b)))
    kind = np.complex128 if x.dtype.kind == "c" else np.float64
    a, b = x.astype(kind), y.astype(kind)
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a - b)
        d = np.where((np.isnan(a) & np.isnan(b)) | (a == b), 0.0, d)
    return float(np.max(d))


def diff(path_a: str, path_b: str, tolerance: float = 0.0) -> DiffReport:
    a, b = Checkpoint(path_a), Checkpoint(path_b)
    names_a, names_b = set(a.names()), set(b.names())
    report = DiffReport(only_a=sorted(names_a - names_b), only_b=sorted(names_b - names_a))
    for name in sorted(names_a & names_b):
        ia, ib = a.info(name), b.info(name)
        da, db = f"{ia.dtype} {list(ia.shape)}", f"{ib.dtype} {list(ib.shape)}"
        if ia.dtype != ib.dtype or ia.shape != ib.shape:
            report.changed.append(Change(name, da, db))
            continue
        if a.entry(name)["dtype"] == _dtypes.VARIANT:
            m = max_abs_diff(a.read(name), b.read(name))
        else:
            m = max_abs_diff(a.view(name), b.view(name))
        if m > tolerance or np.isnan(m):
            report.changed.append(Change(name, da, db, m))
        else:
            report.equal += 1
    return report
