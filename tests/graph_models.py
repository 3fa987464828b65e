"""Real TensorFlow graphs for the graph tests, built once per test process (cached), plus a helper
that runs a GraphDef in TensorFlow. Imported by tests/test_graph_*.py; TensorFlow is imported lazily."""

from __future__ import annotations

import functools
import os
import tempfile

import numpy as np

_TMP = tempfile.mkdtemp(prefix="tfforge-graph-tests-")


def tf():
    import tensorflow
    return tensorflow


def _freeze_keras(model, input_shape):
    t = tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    fn = t.function(lambda x: model(x, training=False))
    concrete = fn.get_concrete_function(t.TensorSpec(input_shape, t.float32, name="input"))
    frozen = convert_variables_to_constants_v2(concrete)
    gd = frozen.graph.as_graph_def()
    out = frozen.outputs[0].name.split(":")[0]
    inp = frozen.inputs[0].name.split(":")[0]
    return gd.SerializeToString(), inp, out


@functools.lru_cache(maxsize=None)
def mobilenet():
    """(GraphDef bytes, input node, output node) of a frozen Keras MobileNetV2 with random weights."""
    t = tf()
    model = t.keras.applications.MobileNetV2(input_shape=(64, 64, 3), weights=None, classes=10, alpha=0.35)
    return _freeze_keras(model, (1, 64, 64, 3))


@functools.lru_cache(maxsize=None)
def resnet50():
    t = tf()
    model = t.keras.applications.ResNet50(input_shape=(32, 32, 3), weights=None, classes=10)
    return _freeze_keras(model, (1, 32, 32, 3))


@functools.lru_cache(maxsize=None)
def tf1_control_flow():
    """A TF1-style graph: placeholders, a v1 while loop (Enter/Merge/Switch/NextIteration), control
    dependencies, Identity/CheckNumerics chains and unused branches; returns (bytes, inputs, outputs)."""
    t = tf()
    v1 = t.compat.v1
    v1.disable_control_flow_v2()
    try:
        g = t.Graph()
        with g.as_default():
            x = v1.placeholder(t.float32, shape=(None, 4), name="x")
            scale = v1.placeholder_with_default(t.constant(2.0), shape=(), name="scale")
            w = t.constant(np.arange(16, dtype=np.float32).reshape(4, 4) / 10.0, name="w")
            h = t.identity(t.matmul(x, w), name="h_id")
            h = v1.check_numerics(h, "bad", name="h_check")
            with t.control_dependencies([t.no_op(name="setup")]):
                h2 = t.identity(h * scale, name="h2")
            i0 = t.constant(0, name="i0")

            def cond(i, acc):
                return i < 3

            def body(i, acc):
                return i + 1, t.tanh(acc) * 1.5

            _, looped = v1.while_loop(cond, body, [i0, h2], name="loop")
            out = t.identity(t.reduce_sum(looped, axis=1) + t.constant(1.0), name="out")
            t.identity(h * 3.0, name="unused_branch")
            t.add(out, 1.0, name="other_out")
        gd = g.as_graph_def()
    finally:
        v1.enable_control_flow_v2()
    return gd.SerializeToString(), ["x"], ["out"]


@functools.lru_cache(maxsize=None)
def tf2_function_graph():
    """A graph whose While op calls library functions (cond/body), and a tf.function call."""
    t = tf()

    @t.function
    def inner(v):
        return t.sin(v) * 2.0

    @t.function
    def f(x):
        i = t.constant(0)
        _, y = t.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, inner(v) + 1.0), [i, x])
        return y * 0.5

    concrete = f.get_concrete_function(t.TensorSpec((3,), t.float32, name="x"))
    gd = concrete.graph.as_graph_def()
    out = concrete.outputs[0].name.split(":")[0]
    return gd.SerializeToString(), ["x"], [out]


@functools.lru_cache(maxsize=None)
def saved_model():
    """Path of a SavedModel with a 'serving_default' signature (a small tf.Module with variables)."""
    t = tf()

    class M(t.Module):
        def __init__(self):
            self.w = t.Variable(np.ones((4, 2), np.float32), name="w")
            self.b = t.Variable(np.zeros((2,), np.float32), name="b")

        @t.function(input_signature=[t.TensorSpec((None, 4), t.float32, name="features")])
        def __call__(self, x):
            return {"scores": t.nn.softmax(t.matmul(x, self.w) + self.b)}

    m = M()
    path = os.path.join(_TMP, "saved_model")
    t.saved_model.save(m, path, signatures=m.__call__.get_concrete_function())
    return path


@functools.lru_cache(maxsize=None)
def tf1_meta_graph():
    """Path of a TF1 .meta file (from tf.compat.v1.train.export_meta_graph) and its in/out names."""
    t = tf()
    v1 = t.compat.v1
    g = t.Graph()
    with g.as_default():
        x = v1.placeholder(t.float32, (None, 3), name="x")
        w = v1.get_variable("w", initializer=np.ones((3, 2), np.float32))
        t.identity(t.matmul(x, w), name="y")
        path = os.path.join(_TMP, "model.meta")
        v1.train.export_meta_graph(filename=path, graph=g)
    return path


def run(graph_bytes: bytes, feeds: dict, fetches: list[str]):
    """Imports a GraphDef into a fresh graph with tf.graph_util.import_graph_def and runs it."""
    t = tf()
    gd = t.compat.v1.GraphDef()
    gd.ParseFromString(graph_bytes)
    g = t.Graph()
    with g.as_default():
        t.graph_util.import_graph_def(gd, name="")
    with t.compat.v1.Session(graph=g) as sess:
        return sess.run([f if ":" in f else f + ":0" for f in fetches],
                        {(k if ":" in k else k + ":0"): v for k, v in feeds.items()})


def graph_def(graph_bytes: bytes):
    gd = tf().compat.v1.GraphDef()
    gd.ParseFromString(graph_bytes)
    return gd


def tmp_path(name: str) -> str:
    return os.path.join(_TMP, name)
