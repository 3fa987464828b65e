"""Demo step: a small Keras model frozen to .pb, converted to a SavedModel and to int8 TFLite, each
checked against the Keras original."""

from __future__ import annotations

import os


def demo_step(workdir: str) -> str:
    import warnings

    import numpy as np

    from tfforge._console import human_bytes
    from tfforge.convert import convert, freeze
    from tfforge._tf import keras
    k = keras()
    k.utils.set_random_seed(0)
    inp = k.Input((32,), name="features")
    h = k.layers.Dense(64, activation="relu", name="hidden")(inp)
    h = k.layers.BatchNormalization(name="norm")(h)
    out = k.layers.Dense(5, activation="softmax", name="probs")(h)
    src = os.path.join(workdir, "demo_convert.keras")
    k.Model(inp, out).save(src)

    lines = []
    frozen = freeze(src, os.path.join(workdir, "demo_convert.pb"))
    lines.append(f"freeze: {os.path.basename(src)} -> demo_convert.pb, {frozen.constants} constants "
                 f"({human_bytes(frozen.weight_bytes)}), inputs {frozen.inputs}, outputs {frozen.outputs}")
    saved = os.path.join(workdir, "demo_convert_savedmodel")
    result = convert(os.path.join(workdir, "demo_convert.pb"), saved, "savedmodel")
    lines.append(f"frozen .pb -> SavedModel ({human_bytes(result.bytes_out)}); parity vs the .pb:")
    lines += ["  " + line for line in result.parity.table().splitlines()]
    calib = os.path.join(workdir, "demo_calibration.npz")
    np.savez(calib, features=np.random.default_rng(1).standard_normal((128, 32)).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = convert(src, os.path.join(workdir, "demo_convert_int8.tflite"), quantize="int8",
                         representative=calib, samples=16)
    lines.append(f"Keras -> int8 TFLite: {human_bytes(result.bytes_in)} -> {human_bytes(result.bytes_out)}; "
                 "parity vs Keras (int8 I/O dequantized):")
    lines += ["  " + line for line in result.parity.table().splitlines()]
    return "\n".join(lines)
