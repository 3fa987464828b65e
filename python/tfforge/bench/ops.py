"""tfforge's fused ops against TensorFlow's built-in compositions, in one run.

For each op, shape, dtype and direction (forward, forward+backward) three variants are timed:
``tfforge`` (the fused op in tf.function), ``builtin`` (the composition Keras/TensorFlow use, in
tf.function) and ``xla`` (the same composition with jit_compile=True). Each row reports the median
time, the speedup of tfforge over the variant, the achieved GB/s (each full-size tensor read or
written once: 2 for forward, 5 for forward+backward) and its percentage of the measured bandwidth.
"""

from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass

import numpy as np

OPS = ("layer_norm", "rms_norm", "bias_gelu")
VARIANTS = ("tfforge", "builtin", "xla")
DIRECTIONS = ("fwd", "fwd+bwd")
DTYPES = ("float32", "float16", "bfloat16")
TENSORS_MOVED = {"fwd": 2, "fwd+bwd": 5}


@dataclass
class Result:
    op: str
    shape: str
    dtype: str
    device: str
    direction: str
    variant: str
    median_ms: float
    gbps: float
    pct_of_bandwidth: float
    tfforge_speedup: float  # time of this variant / time of tfforge (1.0 for tfforge itself)


def _sig(v: float) -> float:
    """v to 4 significant digits (tiny test shapes give tiny GB/s that fixed decimals would zero)."""
    return float(f"{v:.4g}")


def parse_shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise ValueError(f"bad shape {text!r}: expected dimensions like 8192x1024") from None
    if not dims or any(d <= 0 for d in dims):
        raise ValueError(f"bad shape {text!r}: dimensions must be positive")
    return dims


def _forward(op: str, variant: str):
    from tfforge import _tf
    tf = _tf.tf()
    keras = _tf.keras()

    if variant == "tfforge":
        import tfforge.ops as tfops
        return {"layer_norm": lambda x, g, b: tfops.layer_norm(x, g, b, epsilon=1e-3),
                "rms_norm": lambda x, g: tfops.rms_norm(x, g, epsilon=1e-6),
                "bias_gelu": lambda x, b: tfops.bias_gelu(x, b)}[op]
    # What keras.layers.LayerNormalization / RMSNormalization / Dense(activation="gelu") run.
    return {"layer_norm": lambda x, g, b: keras.ops.layer_normalization(x, g, b, axis=-1, epsilon=1e-3),
            "rms_norm": lambda x, g: keras.ops.rms_normalization(x, g, axis=-1, epsilon=1e-6),
            "bias_gelu": lambda x, b: tf.nn.gelu(tf.nn.bias_add(x, b))}[op]


def _compiled(op: str, variant: str, direction: str):
    from tfforge import _tf
    tf = _tf.tf()

    f = _forward(op, variant)
    jit = variant == "xla"
    if direction == "fwd":
        return tf.function(f, jit_compile=jit)

    def step(dy, *args):
        with tf.GradientTape() as tape:
            tape.watch(args)
            y = f(*args)
        # y is returned too: otherwise graph pruning drops the forward op whenever the gradient does
        # not need its output, and "fwd+bwd" would time the backward pass alone.
        return y, tape.gradient(y, args, output_gradients=dy)

    return tf.function(step, jit_compile=jit)


def _inputs(op: str, shape, dtype: str, seed: int = 0):
    from tfforge import _tf
    tf = _tf.tf()

    rng = np.random.default_rng(seed)
    x = tf.cast(rng.standard_normal(shape, np.float32), dtype)
    nparams = 2 if op == "layer_norm" else 1
    params = [tf.cast(rng.standard_normal(shape[-1:], np.float32), dtype) for _ in range(nparams)]
    dy = tf.cast(rng.standard_normal(shape, np.float32), dtype)
    return x, params, dy


def run(ops=OPS, shapes=((8192, 1024),), dtypes=("float32",), device: str = "cpu", directions=DIRECTIONS,
        reps: int = 10, bandwidth_gbps: float | None = None, progress=None) -> dict:
    """Runs the comparison; returns {"machine": {...}, "results": [Result as dict, ...]}."""
    from tfforge import _tf
    tf = _tf.tf()

    from tfforge.bench.bandwidth import measured_gbps
    from tfforge.bench.timing import median_ms

    if device == "gpu" and not tf.config.list_logical_devices("GPU"):
        raise RuntimeError("--device gpu: TensorFlow sees no GPU on this machine")
    bandwidth = bandwidth_gbps or measured_gbps(device)
    results: list[Result] = []
    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        for op in ops:
            for shape in shapes:
                for dtype in dtypes:
                    x, params, dy = _inputs(op, shape, dtype)
                    nbytes = int(np.prod(shape)) * tf.as_dtype(dtype).size
                    for direction in directions:
                        times = {}
                        for variant in VARIANTS:
                            fn = _compiled(op, variant, direction)
                            call = (lambda: fn(x, *params)) if direction == "fwd" else (lambda: fn(dy, x, *params))
                            times[variant] = median_ms(call, reps=reps)
                            if progress:
                                progress(f"{op} {direction} {'x'.join(map(str, shape))} {dtype} {variant}: "
                                         f"{times[variant]:.2f} ms")
                        for variant, ms in times.items():
                            gbps = TENSORS_MOVED[direction] * nbytes / (ms / 1e3) / 1e9
                            results.append(Result(op, "x".join(map(str, shape)), dtype, device, direction, variant,
                                                  _sig(ms), _sig(gbps), _sig(100 * gbps / bandwidth),
                                                  round(ms / times["tfforge"], 2)))
    machine = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "tensorflow": tf.__version__,
               "device": device, "cpu_allocator": "bfc" if os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower()
               in ("1", "true") else "default", "measured_bandwidth_gbps": round(bandwidth, 2),
               "gpu": [d.name for d in tf.config.list_logical_devices("GPU")]}
    return {"machine": machine, "results": [asdict(r) for r in results]}
