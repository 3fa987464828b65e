"""Real models built here for the convert tests (imported by the other test_convert_* modules):
a TF1 graph saved with Saver at two global steps, Keras models, a SavedModel with two signatures.
Each builder writes once per session into a shared directory and returns paths + reference outputs."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

_ROOT = tempfile.mkdtemp(prefix="tfforge-convert-tests-")
atexit.register(shutil.rmtree, _ROOT, ignore_errors=True)
RNG = np.random.default_rng(7)
X4 = RNG.standard_normal((5, 4)).astype(np.float32)


def _dir(name):
    path = os.path.join(_ROOT, name)
    os.makedirs(path, exist_ok=True)
    return path


@functools.lru_cache(maxsize=None)
def tf1_checkpoint(use_resource: bool = False):
    """TF1 graph: placeholder x, variables w, b, scale; y = while-loop of tanh(h) * scale + b, behind a
    control dependency on a CheckNumerics; trained one step; Saver checkpoints at steps 1 and 2.
    Returns (dir, {step: y reference on X4}, graph_def of the inference graph without saver)."""
    d = _dir(f"tf1_{'resource' if use_resource else 'ref'}")
    v1 = tf.compat.v1
    g = tf.Graph()
    refs = {}
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        w = v1.get_variable("w", [4, 3], initializer=v1.random_normal_initializer(seed=1), use_resource=use_resource)
        b = v1.get_variable("b", [3], initializer=v1.constant_initializer(0.1), use_resource=use_resource)
        scale = v1.get_variable("scale", [], initializer=v1.constant_initializer(0.5), use_resource=use_resource)
        step = v1.train.get_or_create_global_step()
        h = tf.matmul(x, w) + b
        _, h = tf.while_loop(lambda i, h: i < 3, lambda i, h: (i + 1, tf.tanh(h) * scale + b), [tf.constant(0), h])
        check = tf.debugging.check_numerics(h, "y must be finite")
        with tf.control_dependencies([check]):
            y = tf.identity(h, name="y")
        loss = tf.reduce_mean(tf.square(y))
        v1.summary.scalar("loss", loss)
        train = v1.train.GradientDescentOptimizer(0.5).minimize(loss, global_step=step)
        saver = v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            saver.save(sess, os.path.join(d, "model.ckpt"), global_step=1)
            refs[1] = sess.run(y, {x: X4})
            sess.run(train, {x: X4})
            saver.save(sess, os.path.join(d, "model.ckpt"), global_step=2)
            refs[2] = sess.run(y, {x: X4})
        graph_def = g.as_graph_def()
    return d, refs, graph_def


def keras_mlp_path(fmt="keras"):
    return _keras_mlp(fmt)


@functools.lru_cache(maxsize=None)
def _keras_mlp(fmt):
    import keras
    keras.utils.set_random_seed(3)
    inp = keras.Input((4,), name="features")
    h = keras.layers.Dense(16, activation="relu", name="hidden")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.Dropout(0.3)(h)
    out = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    model = keras.Model(inp, out)
    # Non-trivial batch-norm statistics, so inference vs training mode matters.
    bn = model.get_layer("bn")
    bn.moving_mean.assign(RNG.standard_normal(16).astype(np.float32))
    bn.moving_variance.assign(RNG.uniform(0.5, 2, 16).astype(np.float32))
    path = os.path.join(_dir("keras"), f"mlp.{fmt}")
    model.save(path)
    return path, model.predict(X4, verbose=0)


@functools.lru_cache(maxsize=None)
def keras_two_io():
    """Two inputs, two outputs."""
    import keras
    keras.utils.set_random_seed(4)
    a = keras.Input((4,), name="a")
    b = keras.Input((2,), name="b")
    h = keras.layers.Concatenate()([keras.layers.Dense(5, name="da")(a), b])
    o1 = keras.layers.Dense(2, name="head1")(h)
    o2 = keras.layers.Dense(1, activation="sigmoid", name="head2")(h)
    model = keras.Model([a, b], [o1, o2])
    path = os.path.join(_dir("keras"), "two_io.keras")
    model.save(path)
    xb = RNG.standard_normal((5, 2)).astype(np.float32)
    return path, (X4, xb), model.predict([X4, xb], verbose=0)


@functools.lru_cache(maxsize=None)
def mobilenet():
    import keras
    keras.utils.set_random_seed(5)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None, classes=10)
    path = os.path.join(_dir("keras"), "mobilenet.keras")
    model.save(path)
    x = RNG.uniform(-1, 1, (2, 96, 96, 3)).astype(np.float32)
    return path, x, model.predict(x, verbose=0)


@functools.lru_cache(maxsize=None)
def savedmodel_two_signatures():
    """A tf.Module with variables and two signatures: serving_default (x -> {scores}) and
    `embed` (x -> {embedding, norm})."""
    class Model(tf.Module):
        def __init__(self):
            self.w = tf.Variable(RNG.standard_normal((4, 6)).astype(np.float32), name="w")
            self.b = tf.Variable(np.linspace(-1, 1, 6).astype(np.float32), name="b")
            self.table = tf.Variable(RNG.standard_normal((10, 6)).astype(np.float32), name="table")

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            return {"scores": tf.nn.softmax(tf.matmul(x, self.w) + self.b)}

        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def embed(self, x):
            e = tf.matmul(x, self.w)
            ids = tf.cast(tf.math.floormod(tf.range(tf.shape(x)[0]), 10), tf.int32)
            e = e + tf.gather(self.table, ids)
            return {"embedding": e, "norm": tf.norm(e, axis=1)}

    m = Model()
    path = _dir("savedmodel")
    tf.saved_model.save(m, path, signatures={"serving_default": m.serve, "embed": m.embed})
    return path, {"serving_default": {k: v.numpy() for k, v in m.serve(X4).items()},
                  "embed": {k: v.numpy() for k, v in m.embed(X4).items()}}


def run_frozen(pb_path, feeds: dict, outputs: list):
    """Runs a frozen GraphDef with TensorFlow's own importer and a v1 Session."""
    from tfforge.convert.frozen import read_graph_def
    graph_def = read_graph_def(pb_path)
    g = tf.Graph()
    with g.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    with tf.compat.v1.Session(graph=g) as sess:
        return sess.run([o if ":" in o else o + ":0" for o in outputs],
                        {(k if ":" in k else k + ":0"): v for k, v in feeds.items()})


def test_fixtures_build():
    d, refs, _ = tf1_checkpoint()
    assert os.path.exists(os.path.join(d, "checkpoint")) and not np.allclose(refs[1], refs[2])
