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


def _io(report) -> tuple[list[str], list[str]]:
    """(inputs, outputs) an inspect report names: a SavedModel's serving_default keys, a Keras file's
    input and output layers, a graph's placeholders and detected outputs."""
    sig = (report.get("signatures") or {}).get("serving_default")
    if sig:
        return sorted(sig["inputs"]), sorted(sig["outputs"])
    if report.get("kind") == "keras":  # config.json's [name, node, tensor] entries, or one of them bare
        layers = [report[k] if isinstance(report[k][0], str) else None for k in ("inputs", "outputs")]
        return tuple([entry[0]] if entry else [e[0] for e in report[k]]
                     for entry, k in zip(layers, ("inputs", "outputs")))
    return [i["name"] for i in report["inputs"]], [o["name"] for o in report["outputs"]]


def _tf1_model():
    d, _, _ = tf1_checkpoint()
    return d, os.path.join(tf.train.latest_checkpoint(d) + ".meta")


def _keras_model():
    from test_convert_models import keras_mlp_path
    path = keras_mlp_path()
    path = path[0] if isinstance(path, tuple) else path
    return path, path


def _savedmodel():
    from test_convert_models import savedmodel_two_signatures
    path = savedmodel_two_signatures()[0]
    return path, path


def _frozen_pb():
    d, _, _ = tf1_checkpoint()
    pb = os.path.join(tempfile.mkdtemp(prefix="tfforge-agree-"), "frozen.pb")
    freeze(d, pb, outputs="y")
    return pb, pb


@pytest.mark.parametrize("model", [_tf1_model, _savedmodel, _keras_model, _frozen_pb],
                         ids=["tf1", "savedmodel", "keras", "frozen_pb"])
def test_inspect_freeze_and_convert_agree_on_inputs_and_outputs(tmp_path, model):
    """The same model through inspect, freeze, convert and the verify runner: one set of input and
    output names (node names; a SavedModel's signature keys, which freeze and convert name nodes after)."""
    from tfforge.convert import convert
    src, inspect_src = model()
    frozen = freeze(src, tmp_path / "frozen.pb")
    convert(src, str(tmp_path / "converted.pb"), verify=False)
    runner = open_runner(src)
    choices = {
        "inspect": _io(inspect(inspect_src)),
        "freeze": (sorted(frozen.inputs), sorted(o.split(":")[0] for o in frozen.outputs)),
        "inspect frozen": _io(inspect(str(tmp_path / "frozen.pb"))),
        "convert": _io(inspect(str(tmp_path / "converted.pb"))),
        "verify runner": (sorted(i.name.split(":")[0] for i in runner.inputs),
                          sorted(o.split(":")[0] for o in runner.outputs)),
    }
    choices = {k: tuple(sorted(v) for v in pair) for k, pair in choices.items()}
    assert len(set(map(repr, choices.values()))) == 1, choices
