"""tfforge's fused ops against TensorFlow's built-in compositions: the `tfforge bench op` harness
(tfforge.bench.op) applied to each of them, variants labelled ``tfforge`` (the fused op), ``builtin``
(the composition Keras/TensorFlow use) and ``xla`` (that composition under jit_compile=True)."""

from __future__ import annotations

import numpy as np

OPS = ("layer_norm", "rms_norm", "bias_gelu")
LABELS = ("tfforge", "builtin", "xla")
DIRECTIONS = ("fwd", "fwd+bwd")
DTYPES = ("float32", "float16", "bfloat16")


def functions(op: str):
    """(fused op, built-in composition) with the epsilons the Keras layers use."""
    from tfforge import _tf
    tf, keras = _tf.tf(), _tf.keras()

    import tfforge.ops as tfops
    return {
        "layer_norm": (lambda x, g, b: tfops.layer_norm(x, g, b, epsilon=1e-3),
                       lambda x, g, b: keras.ops.layer_normalization(x, g, b, axis=-1, epsilon=1e-3)),
        "rms_norm": (lambda x, g: tfops.rms_norm(x, g, epsilon=1e-6),
                     lambda x, g: keras.ops.rms_normalization(x, g, axis=-1, epsilon=1e-6)),
        "bias_gelu": (lambda x, b: tfops.bias_gelu(x, b), lambda x, b: tf.nn.gelu(tf.nn.bias_add(x, b))),
    }[op]


def _inputs(op: str):
    from tfforge import _tf
    tf = _tf.tf()

    def make(shape, dtype, seed: int = 0):
        rng = np.random.default_rng(seed)
        nparams = 2 if op == "layer_norm" else 1
        return tuple(tf.cast(rng.standard_normal(s, np.float32), dtype) for s in [shape] + [shape[-1:]] * nparams)
    return make


def run(ops=OPS, shapes=((8192, 1024),), dtypes=("float32",), device: str = "cpu", directions=DIRECTIONS,
        reps: int = 10, bandwidth_gbps: float | None = None, progress=None) -> dict:
    """Runs the comparison; returns {"machine": {...}, "results": [row as dict, ...]}."""
    from tfforge import _tf
    tf = _tf.tf()

    from tfforge.bench import op as harness
    from tfforge.bench.bandwidth import measured_gbps
    from tfforge.errors import TfforgeError

    if device == "gpu" and not tf.config.list_logical_devices("GPU"):
        raise TfforgeError("--device gpu: TensorFlow sees no GPU on this machine")
    bandwidth = bandwidth_gbps or measured_gbps(device)
    results = []
    with tf.device("/GPU:0" if device == "gpu" else "/CPU:0"):
        for name in ops:
            fused, builtin = functions(name)
            rows = harness.bench_op(name, fused, builtin, make_inputs=_inputs(name), shapes=shapes, dtypes=dtypes,
                                    device=device, xla=True, backward="fwd+bwd" in directions, reps=reps,
                                    bandwidth_gbps=bandwidth, labels=LABELS, progress=progress)
            results += [r for r in rows if r.direction in directions]
    return harness.report(results, device, bandwidth)
