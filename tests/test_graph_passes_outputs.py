"""One output heuristic: `tfforge inspect`, `tfforge freeze` and `tfforge convert` (and the runner verify
uses) pick the same outputs for a model, and a TF1 training graph (loss, gradients, Adam, a saver, a
summary) yields only the model's output, never gradients/*, the loss's internals or optimizer nodes."""

from __future__ import annotations

import functools
import os
import tempfile

import numpy as np
import pytest

from tfforge.graph.inspect import inspect

tf = pytest.importorskip("tensorflow")

from test_convert_models import tf1_checkpoint  # noqa: E402
from tfforge.convert import freeze  # noqa: E402
from tfforge.convert.conversions import checkpoint_to_savedmodel  # noqa: E402
from tfforge.convert.runners import open_runner  # noqa: E402

pytestmark = pytest.mark.tensorflow


@functools.lru_cache(maxsize=None)
def training_checkpoint(with_softmax: bool) -> str:
    """A TF1 classifier trained one Adam step, saved with a Saver: x -> logits (-> probs); a sparse
    softmax cross-entropy loss, its gradients, the optimizer's slots and updates, a loss summary."""
    d = tempfile.mkdtemp(prefix=f"tfforge-train-{int(with_softmax)}-")
    v1 = tf.compat.v1
    g = tf.Graph()
    with g.as_default():
        x = v1.placeholder(tf.float32, [None, 4], name="x")
        labels = v1.placeholder(tf.int64, [None], name="labels")
        w = v1.get_variable("w", [4, 3], initializer=v1.random_normal_initializer(seed=2))
        b = v1.get_variable("b", [3], initializer=v1.zeros_initializer())
        logits = tf.add(tf.matmul(x, w), b, name="logits")
        if with_softmax:
            tf.nn.softmax(logits, name="probs")
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits),
                              name="loss")
        train = v1.train.AdamOptimizer(0.1).minimize(loss, global_step=v1.train.get_or_create_global_step())
        v1.summary.scalar("loss", loss)
        saver = v1.train.Saver()
        with v1.Session(graph=g) as sess:
            sess.run(v1.global_variables_initializer())
            sess.run(train, {x: np.ones((2, 4), np.float32), labels: [0, 2]})
            saver.save(sess, os.path.join(d, "model.ckpt"))
    return d


def _names(report) -> list[str]:
    return [o["name"] for o in report["outputs"]]


def _choices(ckpt_dir: str, tmp_path) -> dict[str, list[str]]:
    """The outputs each command picks for one model, as node names."""
    frozen = tmp_path / "frozen.pb"
    result = freeze(ckpt_dir, frozen)
    _, converted = checkpoint_to_savedmodel(ckpt_dir, str(tmp_path / "saved_model"))
    prefix = os.path.join(ckpt_dir, "model.ckpt") if os.path.exists(os.path.join(ckpt_dir, "model.ckpt.meta")) \
        else tf.train.latest_checkpoint(ckpt_dir)
    return {
        "inspect .meta": _names(inspect(prefix + ".meta")),
        "freeze": [o.split(":")[0] for o in result.outputs],
        "convert": [o.split(":")[0] for o in converted],
        "inspect frozen": _names(inspect(str(frozen))),
        "verify runner": open_runner(str(frozen)).outputs,
    }


@pytest.mark.parametrize("with_softmax, expected", [(True, ["probs"]), (False, ["logits"])])
def test_training_graph_yields_only_the_model_output(tmp_path, with_softmax, expected):
    choices = _choices(training_checkpoint(with_softmax), tmp_path)
    assert all(found == expected for found in choices.values()), choices


def test_inspect_freeze_and_convert_agree_on_a_tf1_control_flow_model(tmp_path):
    d, _, _ = tf1_checkpoint()
    choices = _choices(d, tmp_path)
    assert all(found == ["y"] for found in choices.values()), choices
