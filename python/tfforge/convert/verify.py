"""tfforge verify: run two models on the same inputs and report the error per output."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from tfforge.convert.runners import open_runner
from tfforge.errors import ConversionError


@dataclass
class OutputError:
    a: str
    b: str
    shape: tuple
    max_abs: float
    max_rel: float   # max |a - b| / max |a|: relative to the reference output's magnitude


@dataclass
class ParityReport:
    a: str
    b: str
    samples: int
    outputs: list = field(default_factory=list)
    interpreter: str = ""

    @property
    def max_abs(self) -> float:
        return max((o.max_abs for o in self.outputs), default=0.0)

    def table(self) -> str:
        from tfforge._console import format_table
        rows = [(o.a if o.a == o.b else f"{o.a} ~ {o.b}", "x".join(map(str, o.shape)), f"{o.max_abs:.3g}",
                 f"{o.max_rel:.3g}") for o in self.outputs]
        return format_table(rows, ["output", "shape", "max abs err", "max rel err"])


def sample_inputs(infos, samples: int, seed: int = 0) -> dict:
    """Random inputs for each (name, shape, dtype): unknown batch dimensions get `samples`, other
    unknown dimensions 8; integers are 0 or 1."""
    if samples < 1:
        raise ConversionError(f"samples must be at least 1, not {samples}")
    rng = np.random.default_rng(seed)
    feeds = {}
    for info in infos:
        shape = tuple(samples if i == 0 and d is None else 8 if d is None else d for i, d in enumerate(info.shape))
        if np.issubdtype(info.dtype, np.floating):
            feeds[info.name] = rng.standard_normal(shape).astype(info.dtype)
        elif np.issubdtype(info.dtype, np.integer):
            # Integer inputs are mostly token ids, segment ids and masks: 0 and 1 index every
            # embedding table and are valid masks, so the source model itself never rejects them.
            feeds[info.name] = rng.integers(0, 2, shape).astype(info.dtype)
        elif info.dtype == np.bool_:
            feeds[info.name] = rng.random(shape) < 0.5
        else:
            raise ConversionError(f"cannot make random data for input {info.name!r} of dtype {info.dtype}; "
                                  "pass --data FILE.npz")
    return feeds


def load_npz(path: str, infos) -> dict:
    """Inputs from a .npz: arrays named like the inputs, or arr_0, arr_1, ... in input order."""
    import zipfile
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ConversionError("no such file", path=path) from None
    except IsADirectoryError:
        raise ConversionError("is a directory, not a .npz file", path=path) from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ConversionError(f"not a .npz archive of arrays ({exc})", path=path, offset=0) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ConversionError("a single .npy array, not a .npz archive of arrays named like the inputs "
                              "(write one with numpy.savez)", path=path, offset=0)
    with archive as data:
        names = list(data.keys())
        feeds = {}
        for i, info in enumerate(infos):
            key = info.name if info.name in data else names[i] if i < len(names) else None
            if key is None:
                raise ConversionError(f"no array for input {info.name!r} (it has {', '.join(names) or 'none'})",
                                      path=path)
            try:
                feeds[info.name] = data[key]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise ConversionError(f"array {key!r} cannot be read: {exc}", path=path) from None
    return feeds


def _pair(names_a, names_b, what: str, a, b):
    if set(names_a) == set(names_b):
        return [(n, n) for n in names_a]
    if len(names_a) != len(names_b):
        raise ConversionError(f"the models have different {what}: {a} has {names_a}, {b} has {names_b}")
    return list(zip(names_a, names_b))


def _check_inputs(ra, rb, in_pairs, a, b):
    """Same rank and the same known dimensions for every paired input, before anything runs."""
    infos_b = {i.name: i for i in rb.inputs}
    for info in ra.inputs:
        nb = dict(in_pairs)[info.name]
        other = infos_b[nb]
        if not info.shape or not other.shape:  # unknown rank on either side
            continue
        if len(info.shape) != len(other.shape) or any(
                x is not None and y is not None and x != y for x, y in zip(info.shape, other.shape)):
            raise ConversionError(f"input {info.name!r} has shape {_dims(info.shape)} in {a} but "
                                  f"{_dims(other.shape)} in {b}: the models are not comparable")
        kinds = {np.dtype(info.dtype).kind, np.dtype(other.dtype).kind}
        if len(kinds) > 1 and not kinds <= set("fiu"):
            raise ConversionError(f"input {info.name!r} is {info.dtype} in {a} but {other.dtype} in {b}: "
                                  "the models are not comparable")


def _random_feeds(ra, rb, pairs, samples, seed):
    """Random inputs for A with the dimensions either model fixes (a model exported with pinned input
    shapes); a fixed batch size on either side rounds `samples` up to a multiple of it."""
    from tfforge.convert.runners import TensorInfo
    infos_b = {i.name: i for i in rb.inputs}
    merged, batch = [], 1
    for info in ra.inputs:
        other = infos_b[pairs[info.name]].shape
        if info.shape and other and len(info.shape) == len(other):
            shape = tuple(x if x is not None else y for x, y in zip(info.shape, other))
            if info.shape[0] is None:  # A takes any batch: B's fixed one sets the multiple
                batch = max(batch, shape[0] or 1)
                shape = (None,) + shape[1:]
        else:
            shape = info.shape
        merged.append(TensorInfo(info.name, shape, info.dtype))
    return sample_inputs(merged, -(-samples // batch) * batch, seed)


def _dims(shape) -> str:
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def _run(runner, feeds, path):
    try:
        return runner.run(feeds)
    except ConversionError:
        raise
    except Exception as exc:  # TensorFlow's InvalidArgumentError, a runtime's RuntimeError, ...
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        raise ConversionError(f"running the model failed: {lines[0] if lines else type(exc).__name__}",
                              path=str(path)) from None


def verify(a, b, *, samples: int = 4, data: str | None = None, feeds: dict | None = None, seed: int = 0,
           **options) -> ParityReport:
    """Runs models `a` (the reference) and `b` on the same inputs: `feeds` ({input name: array}), else
    the arrays of the .npz `data`, else random ones (batch `samples`). `options` go to open_runner for
    both (signature, tags, safe_mode)."""
    ra = a if hasattr(a, "run") else open_runner(a, **options)
    rb = b if hasattr(b, "run") else open_runner(b, **options)
    in_pairs = _pair([i.name for i in ra.inputs], [i.name for i in rb.inputs], "inputs", a, b)
    _check_inputs(ra, rb, in_pairs, a, b)
    if feeds is not None:
        missing = [i.name for i in ra.inputs if i.name not in feeds]
        if missing:
            raise ConversionError(f"no data for input(s) {', '.join(missing)}")
        feeds_a = {i.name: np.asarray(feeds[i.name]) for i in ra.inputs}
    else:
        feeds_a = load_npz(data, ra.inputs) if data else _random_feeds(ra, rb, dict(in_pairs), samples, seed)
    expected_b = {i.name: i for i in rb.inputs}
    feeds_b = {}
    for na, nb in in_pairs:
        value = feeds_a[na]
        want = expected_b[nb].dtype
        feeds_b[nb] = value if np.issubdtype(want, np.integer) and want.itemsize == 1 else value.astype(want, copy=False)
    out_a, out_b = _run(ra, feeds_a, a), _run(rb, feeds_b, b)
    report = ParityReport(str(a), str(b), samples=int(next(iter(feeds_a.values())).shape[0]) if feeds_a else 0,
                          interpreter=getattr(rb, "interpreter_name", "") or getattr(ra, "interpreter_name", ""))
    for na, nb in _pair(ra.outputs, rb.outputs, "outputs", a, b):
        x, y = np.asarray(out_a[na]), np.asarray(out_b[nb])
        if x.shape != y.shape:
            raise ConversionError(f"output {na!r} has shape {x.shape} in {a} but {y.shape} in {b}")
        if x.dtype.kind in "OSUV" or y.dtype.kind in "OSUV":  # strings: equal or not
            diff = 0.0 if np.array_equal(x, y) else float("inf")
            report.outputs.append(OutputError(na, nb, x.shape, diff, diff))
            continue
        x, y = x.astype(np.float64), y.astype(np.float64)
        diff = float(np.max(np.abs(x - y))) if x.size else 0.0
        scale = float(np.max(np.abs(x))) if x.size else 0.0
        report.outputs.append(OutputError(na, nb, x.shape, diff, diff / scale if scale else diff))
    return report


def size_reduction(src: str, dst: str) -> tuple[int, int]:
    """(bytes of the source model's weights or file, bytes of the exported file)."""
    def size(path):
        if os.path.isdir(path):
            return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)
        if os.path.exists(path + ".index"):
            d = os.path.dirname(path) or "."
            base = os.path.basename(path)
            return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)
                       if f.startswith(base + ".data") or f == base + ".index")
        return os.path.getsize(path)
    with warnings.catch_warnings():
        return size(src), size(dst)
