"""`tfforge optimize` and the fuse_* passes on hand-written TF1 graphs (tf.compat.v1, frozen: weights are
constants): LayerNorm written as (x - mean) / sqrt(var + eps) and with tf.nn.moments + rsqrt, RMSNorm, and
Dense + GELU in the erf form and BERT's tanh form. TensorFlow runs both graphs (tfforge.convert.verify)
and the counts are checked against the layers built. Near-misses (another axis, an intermediate read
elsewhere, a constant off, epsilon not a constant) stay as they are, and --explain says why."""

import json
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfforge
import tfforge.graph as tg
from tfforge.convert import verify
from fuse_fuzz import flip_bytes_and_fuse

C = 16
RNG = np.random.default_rng(0)


def const(*shape):
    return tf.constant(RNG.standard_normal(shape).astype(np.float32))


def layer_norm_div(x, eps=1e-6, axis=-1):
    mean = tf.reduce_mean(x, axis, keepdims=True)
    d = x - mean
    var = tf.reduce_mean(tf.square(d), axis, keepdims=True)
    return d / tf.sqrt(var + eps) * const(C) + const(C)


def layer_norm_moments(x, eps=1e-5):
    mean, var = tf.nn.moments(x, [-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(var + eps) * const(C) + const(C)


def rms_norm(x, eps=1e-6):
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), -1, keepdims=True) + eps) * const(C)


def dense(x, units):
    w = const(C, units)
    return tf.reshape(tf.matmul(tf.reshape(x, [-1, C]), w), [-1, 8, units])


def gelu_erf(h, k=None, half=0.5):
    k = 1 / np.sqrt(2.0) if k is None else k
    return half * h * (1.0 + tf.math.erf(h * k))


def gelu_tanh(h):  # google-research/bert's gelu
    cdf = 0.5 * (1.0 + tf.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * tf.pow(h, 3))))
    return h * cdf


def frozen(tmp_path, build, name="model.pb"):
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8, C], name="x")
        tf.identity(build(x), name="y")
    path = tmp_path / name
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def _encoder(x):
    h = layer_norm_div(x)
    h = tf.nn.bias_add(dense(h, C), const(C))
    h = gelu_tanh(h)
    h = layer_norm_moments(h)
    h = gelu_erf(dense(h, C) + const(C))
    return rms_norm(h)


def test_tf1_encoder_is_fused_and_matches(tmp_path):
    src = frozen(tmp_path, _encoder)
    report = tfforge.optimize(src, tmp_path / "fused.pb")
    assert report.count("layer_norm") == 2 and report.count("rms_norm") == 1 and report.count("bias_gelu") == 2
    assert not report.not_fused
    ops = [n.op for n in tg.load(tmp_path / "fused.pb").nodes]
    for op in ("Rsqrt", "Sqrt", "Erf", "Tanh", "Mean", "BiasAdd"):
        assert op not in ops
    assert ops.count("TfforgeLayerNorm") == 2 and ops.count("TfforgeBiasGelu") == 2 and "TfforgeRMSNorm" in ops
    assert report.parity.max_abs < 1e-4
    assert {s.detail.split(",")[0] for s in report.sites if s.pattern == "layer_norm"} == {"epsilon=1e-06", "epsilon=1e-05"}


def test_the_passes_run_in_transform_syntax(tmp_path):
    src = frozen(tmp_path, _encoder)
    g = tg.load(src).apply("fuse_layer_norm fuse_rms_norm fuse_bias_gelu", outputs=["y"])
    ops = [n.op for n in g.nodes]
    assert ops.count("TfforgeLayerNorm") == 2 and ops.count("TfforgeBiasGelu") == 2 and ops.count("TfforgeRMSNorm") == 1
    g.save(tmp_path / "t.pb")
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "graph", "transform", str(src), str(tmp_path / "c.pb"),
                          "--outputs", "y", "--transforms", "fuse_bias_gelu"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert [n.op for n in tg.load(tmp_path / "c.pb").nodes].count("TfforgeBiasGelu") == 2
    assert verify(src, tmp_path / "t.pb").max_abs < 1e-4


def _explain(src, dst):
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "optimize", str(src), str(dst), "--explain",
                          "--json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


NEAR_MISSES = {
    # the statistics over axis 1 (of rank 3): not the last axis
    "other_axis": (lambda x: layer_norm_div(x, axis=1) + 0 * const(C), "layer_norm", "not the last axis"),
    # the mean is also an output of the graph
    "extra_consumer": (lambda x: tf.concat([layer_norm_div(x), tf.reduce_mean(x, -1, keepdims=True)], -1),
                       "layer_norm", "extra consumer"),
    # erf(x * 0.8) is not GELU
    "gelu_constant": (lambda x: gelu_erf(tf.nn.bias_add(dense(x, C), const(C)), k=0.8), "bias_gelu",
                      "0.70710678"),
    # 0.6 * x * (1 + erf(x / sqrt 2))
    "gelu_outer": (lambda x: gelu_erf(tf.nn.bias_add(dense(x, C), const(C)), half=0.6), "bias_gelu",
                   "no node computes"),
    # epsilon fed at run time
    "epsilon_input": (lambda x: layer_norm_div(x, eps=tf.compat.v1.placeholder_with_default(1e-6, [])),
                      "layer_norm", "not a scalar constant"),
}


@pytest.mark.parametrize("case", sorted(NEAR_MISSES))
def test_near_misses_are_left_alone_and_explained(tmp_path, case):
    build, pattern, words = NEAR_MISSES[case]
    if case == "extra_consumer":  # the mean has to be the LayerNorm's own: build it by hand
        def build(x):
            mean = tf.reduce_mean(x, -1, keepdims=True)
            d = x - mean
            y = d * tf.math.rsqrt(tf.reduce_mean(tf.square(d), -1, keepdims=True) + 1e-6) * const(C) + const(C)
            return y + mean
    src = frozen(tmp_path, build)
    report = _explain(src, tmp_path / "out.pb")
    sites = [s for s in report["sites"] if s["pattern"] == pattern]
    assert sites and not any(s["fused"] for s in sites), sites
    assert any(words in s["reason"] for s in sites), [s["reason"] for s in sites]
    assert not any(n.op.startswith("Tfforge") for n in tg.load(tmp_path / "out.pb").nodes)
    assert report["parity"]["max_abs"] < 1e-5


def test_explain_in_the_table_output(tmp_path):
    src = frozen(tmp_path, lambda x: gelu_erf(tf.nn.bias_add(dense(x, C), const(C)), k=0.8))
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "optimize", str(src), str(tmp_path / "o.pb"),
                          "--explain", "--no-verify"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "not fused:" in out.stdout and "the Erf argument is 0.8*x" in out.stdout


def test_bad_inputs_are_one_line_errors(tmp_path):
    (tmp_path / "junk.pb").write_bytes(b"\x0a\xff\xff\xff")
    for args in (["optimize", str(tmp_path / "junk.pb"), str(tmp_path / "o.pb")],
                 ["optimize", str(tmp_path / "missing"), str(tmp_path / "o")],
                 ["optimize", str(frozen(tmp_path, rms_norm)), str(tmp_path / "o.pb"), "--patterns", "swish"]):
        out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", *args], capture_output=True, text=True)
        assert out.returncode == 1, (args, out.stderr)
        assert out.stderr.startswith("tfforge: error: ") and out.stderr.count("\n") == 1, out.stderr


def test_mutated_graphs_give_a_result_or_a_tfforge_error(tmp_path):
    """Byte flips anywhere in a graph with every pattern: the fusion passes return a graph or raise a
    tfforge error (never crash); cf. tests/test_graph_fuzz.py for the parser and the other passes."""
    data = frozen(tmp_path, _encoder).read_bytes()
    assert "ok" in flip_bytes_and_fuse(data, ["layer_norm", "rms_norm", "bias_gelu"], ["y"], seed=1)
