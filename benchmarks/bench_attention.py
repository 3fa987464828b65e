"""Microbenchmark of TfforgeAttention against the TensorFlow chains fuse_attention replaces, at BERT-base
attention sizes (batch 8, 12 heads, sequence 128, head_dim 64), float32 on CPU, with a [B, 1, T, S]
padding-style mask:

- ``keras-hub chain``: Transpose / BatchMatMulV2 / Transpose scores, SelectV2 / Softmax / SelectV2,
  BatchMatMulV2 context and Transposes (what keras-hub's BERT SavedModel holds);
- ``einsum chain``: Einsum scores, SelectV2 / Softmax, Einsum context (Keras 3 MultiHeadAttention);
- ``TfforgeAttention`` with and without the mask.

Each is a tf.function over the same inputs; the variants run round-robin and each reports the median
and minimum CPU time (process time) and wall time per call.

usage: python benchmarks/bench_attention.py [--rounds N] [--batch B] [--seq T] [--heads N] [--head-dim H]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfforge.ops as ops  # noqa: E402


def keras_hub_chain(q, k, v, m):
    s = tf.transpose(tf.matmul(tf.transpose(k, [0, 2, 1, 3]), tf.transpose(q, [0, 2, 3, 1])), [0, 1, 3, 2])
    p = tf.where(m, tf.nn.softmax(tf.where(m, s, -1e9)), 0.0)
    return tf.transpose(tf.matmul(p, tf.transpose(v, [0, 2, 1, 3])), [0, 2, 1, 3])


def einsum_chain(q, k, v, m):
    s = tf.einsum("BTNH,BSNH->BNTS", q, k)
    return tf.einsum("BNTS,BSNH->BTNH", tf.nn.softmax(tf.where(m, s, -1e9)), v)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--head-dim", type=int, default=64)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    b, t, n, h = a.batch, a.seq, a.heads, a.head_dim
    q, k, v = (tf.constant(rng.standard_normal((b, t, n, h)).astype(np.float32)) for _ in range(3))
    m = tf.constant(rng.random((b, 1, t, t)) > 0.1)
    variants = {"keras-hub chain": keras_hub_chain, "einsum chain": einsum_chain,
                "TfforgeAttention": lambda q, k, v, m: ops.attention(q, k, v, m, zero_masked=True),
                "TfforgeAttention, no mask": lambda q, k, v, m: ops.attention(q, k, v)}
    fns = {name: tf.function(f) for name, f in variants.items()}
    want = fns["keras-hub chain"](q, k, v, m).numpy()
    got = fns["TfforgeAttention"](q, k, v, m).numpy()
    assert np.max(np.abs(got - want)) < 1e-4, np.max(np.abs(got - want))
    times = {name: [] for name in fns}
    names = list(fns)
    for r in range(a.rounds + 2):
        for name in names[r % len(names):] + names[:r % len(names)]:
            c, w = time.process_time(), time.perf_counter()
            fns[name](q, k, v, m)
            if r >= 2:
                times[name].append((time.process_time() - c, time.perf_counter() - w))
    print(f"attention core, batch {b}, heads {n}, seq {t}, head_dim {h}, load {os.getloadavg()[0]:.1f}")
    base = statistics.median(c for c, _ in times["keras-hub chain"])
    for name, ts in times.items():
        cpu = statistics.median(c for c, _ in ts)
        print(f"{name:28s} cpu median {cpu * 1e3:7.1f} ms  min {min(c for c, _ in ts) * 1e3:7.1f} ms  "
              f"wall median {statistics.median(w for _, w in ts) * 1e3:7.1f} ms  {base / cpu:4.2f}x")


if __name__ == "__main__":
    main()
