"""Any TensorFlow op against its reference composition, in one run: `tfforge bench op`.

For each shape, dtype and direction (forward; forward+backward with ``backward``) it times, each in
tf.function: the op, the reference, and with ``xla`` the reference under jit_compile=True. Each row
reports the median time and its spread (interquartile range, % of the median), the op's speed-up over
the variant (variant time / op time), the achieved GB/s and its percentage of the memory bandwidth
measured in the same run. Bytes moved count every input and output once for the forward pass, and for
forward+backward also the upstream gradient, the inputs read again and their gradients (for an op with
one full-size input and output: 2 and 5 full-size tensors).
"""

from __future__ import annotations

import importlib
import inspect
import sys
from dataclasses import asdict, dataclass

import numpy as np

from tfforge.errors import TfforgeError

DIRECTIONS = ("fwd", "fwd+bwd")
LABELS = ("op", "reference", "xla")


@dataclass
class Result:
    op: str
    shape: str
    dtype: str
    device: str
    direction: str
    variant: str
    median_ms: float
    spread_pct: float  # interquartile range of the timed calls, % of the median
    gbps: float
    pct_of_bandwidth: float
    speedup: float  # time of this variant / time of the op (1.0 for the op itself)


def _sig(v: float) -> float:
    """v to 4 significant digits (tiny test shapes give tiny GB/s that fixed decimals would zero)."""
    return float(f"{v:.4g}")


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        raise TfforgeError(f"bad shape {text!r}: expected dimensions like 8192x1024") from None
    if not dims or any(d <= 0 for d in dims):
        raise TfforgeError(f"bad shape {text!r}: dimensions must be positive")
    return dims


def resolve(spec: str):
    """``module:function`` (dots allowed in both) -> the callable."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TfforgeError(f"bad function {spec!r}: expected MODULE:FUNCTION, e.g. my_op:my_op")
    if "" not in sys.path:
        sys.path.insert(0, "")  # like `python -m`: modules in the current directory are found
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise TfforgeError(f"cannot import {module_name!r} for {spec!r}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TfforgeError(f"{module_name!r} has no {attr!r} (from {spec!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TfforgeError(f"{spec!r} is not callable")
    return obj


def default_inputs(fn, shape, dtype, seed: int = 0):
    """Inputs for ``fn`` from its signature: the first required parameter gets ``shape``, every other
    required positional parameter a vector as long as the last axis (a bias, a scale)."""
    from tfforge import _tf
    tf = _tf.tf()

    params = [p for p in inspect.signature(fn).parameters.values()
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params:
        raise TfforgeError(f"{getattr(fn, '__name__', fn)} takes no required tensor arguments to benchmark")
    rng = np.random.default_rng(seed)
    shapes = [shape] + [shape[-1:]] * (len(params) - 1)
    return tuple(tf.cast(rng.standard_normal(s, np.float32), dtype) for s in shapes)


def _compiled(fn, direction: str, jit: bool):
    from tfforge import _tf
    tf = _tf.tf()

    if direction == "fwd":
        return tf.function(fn, jit_compile=jit)

    def step(dys, *args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = fn(*args)
        # y is returned too: otherwise graph pruning drops the forward op whenever the gradient does
        # not need its output, and "fwd+bwd" would time the backward pass alone.
        return y, tape.gradient(y, args, output_gradients=dys)

    return tf.function(step, jit_compile=jit)


def _nbytes(tensors) -> int:
    return sum(int(np.prod(t.shape)) * t.dtype.size for t in tensors)


def bench_op(name: str, fn, reference=None, make_inputs=None, shapes=((8192, 1024),), dtypes=("float32",),
             device: str = "cpu", xla: bool = True, backward: bool = False, reps: int = 10,
             bandwidth_gbps: float = 0.0, labels=LABELS, progress=None) -> list[Result]:
    """Times ``fn`` (and ``reference``, plain and under XLA) over shapes x dtypes x directions; ``labels``
    names the three variants in the results. ``make_inputs(shape, dtype)`` defaults to :func:`default_inputs`."""
    from tfforge import _tf
    tf = _tf.tf()

    from tfforge.bench.timing import sample

    for dtype in dtypes:
        try:
            tf.as_dtype(dtype)
        except TypeError:
            raise TfforgeError(f"bad dtype {dtype!r}: expected a TensorFlow dtype name such as float32 or "
                               "bfloat16") from None
    variants = [(labels[0], fn, False)]
    if reference is not None:
        variants.append((labels[1], reference, False))
        if xla:
            variants.append((labels[2], reference, True))
    make_inputs = make_inputs or (lambda shape, dtype: default_inputs(fn, shape, dtype))
    directions = DIRECTIONS if backward else DIRECTIONS[:1]
    results = []
    for shape in shapes:
        for dtype in dtypes:
            inputs = tuple(make_inputs(tuple(shape), dtype))
            outputs = tf.nest.flatten(fn(*inputs))
            dys = [tf.cast(tf.random.stateless_normal(o.shape, [1, i]), o.dtype) for i, o in enumerate(outputs)]
            moved = {"fwd": _nbytes(inputs) + _nbytes(outputs),
                     "fwd+bwd": 3 * _nbytes(inputs) + 2 * _nbytes(outputs)}
            for direction in directions:
                times = {}
                for label, f, jit in variants:
                    compiled = _compiled(f, direction, jit)
                    call = (lambda: compiled(*inputs)) if direction == "fwd" else (lambda: compiled(dys, *inputs))
                    try:
                        samples = sample(call, reps, warmup=2, sync=True)
                    except LookupError as exc:  # no gradient registered
                        raise TfforgeError(f"{name} {direction}: {exc}; register a gradient or leave out "
                                           "--backward") from None
                    times[label] = samples
                    if progress:
                        progress(f"{name} {direction} {'x'.join(map(str, shape))} {dtype} {label}: "
                                 f"{samples.median * 1e3:.3f} ms")
                base = times[labels[0]].median
                for label, samples in times.items():
                    seconds = samples.median
                    gbps = moved[direction] / seconds / 1e9
                    results.append(Result(name, "x".join(map(str, shape)), tf.as_dtype(dtype).name, device, direction,
                                          label, _sig(seconds * 1e3), round(samples.spread_pct, 1), _sig(gbps),
                                          _sig(100 * gbps / bandwidth_gbps) if bandwidth_gbps else 0.0,
                                          round(seconds / base, 2)))
    return results


def report(results: list[Result], device: str, bandwidth_gbps: float, **machine) -> dict:
    """{"machine": {...}, "results": [Result as dict, ...]}: what the table, JSON and PNG are made from."""
    import os

    from tfforge.bench.machine import machine_info

    allocator = "bfc" if os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() in ("1", "true") else "default"
    info = machine_info(device=device, cpu_allocator=allocator, measured_bandwidth_gbps=round(bandwidth_gbps, 2),
                        **machine)
    return {"machine": info, "results": [asdict(r) for r in results]}


def run(name: str, fn, reference=None, device: str = "cpu", bandwidth_gbps: float | None = None, **options) -> dict:
    """Measures the bandwidth roofline, then :func:`bench_op`; returns the report."""
    from tfforge import _tf
    tf = _tf.tf()

    from tfforge.bench.bandwidth import measured_gbps

    if device == "gpu" and not tf.config.list_logical_devices("GPU"):
        raise TfforgeError("--device gpu: TensorFlow sees no GPU on this machine")
    bandwidth = bandwidth_gbps or measured_gbps(device)
    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        results = bench_op(name, fn, reference, device=device, bandwidth_gbps=bandwidth, **options)
    return report(results, device, bandwidth)
