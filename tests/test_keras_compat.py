"""tfforge._compat: every Keras/TensorFlow interface the fast freeze paths need is found on the pinned
versions and the fast paths are taken; with a feature made to look missing, the slower public path runs,
logs one line saying why, and freezes the same graph."""

from __future__ import annotations

import logging
import os
import re

import numpy as np
import pytest

from test_convert_models import run_frozen, savedmodel_two_signatures

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from tfforge._compat import Feature, missing  # noqa: E402
from tfforge._compat import keras as compat_keras  # noqa: E402
from tfforge._compat import tf as compat_tf  # noqa: E402
from tfforge.convert import freeze  # noqa: E402
from tfforge.convert import keras_weights  # noqa: E402
from tfforge.convert.frozen import read_graph_def  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RNG = np.random.default_rng(11)
X = RNG.standard_normal((3, 8)).astype(np.float32)


@keras.saving.register_keras_serializable(package="tfforge_test")
class Block(keras.layers.Layer):
    """Sublayers in a list and a dict attribute: their groups are named by attribute and class."""

    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.parts = [keras.layers.Dense(units), keras.layers.Dense(units, activation="tanh")]
        self.extra = {"out": keras.layers.Dense(units)}

    def build(self, shape):
        for layer in (*self.parts, self.extra["out"]):
            layer.build(shape)
            shape = (*shape[:-1], self.units)

    def call(self, x):
        return self.extra["out"](self.parts[1](self.parts[0](x)))

    def get_config(self):
        return dict(super().get_config(), units=self.units)


@keras.saving.register_keras_serializable(package="tfforge_test")
class Doubled(keras.layers.Layer):
    """Saves a computed value (twice its weight), not its variable: the file layout cannot be paired with
    variables, only Keras's own load_own_variables undoes it."""

    def build(self, shape):
        self.w = self.add_weight(shape=(shape[-1],), initializer="random_normal", name="w")

    def call(self, x):
        return x * self.w

    def save_own_variables(self, store):
        store["0"] = keras.ops.convert_to_numpy(self.w) * 2

    def load_own_variables(self, store):
        self.w.assign(store["0"][()] / 2)


def _model(extra_layer=None):
    """Functional model with a nested Sequential, BatchNormalization statistics, Dropout (a seed generator
    the file does not hold), MultiHeadAttention (sublayers by attribute) and a custom Block."""
    keras.utils.set_random_seed(5)
    inp = keras.Input((8,), name="x")
    h = keras.layers.Dense(8, name="first")(inp)
    h = keras.layers.Dropout(0.2)(h)
    h = keras.Sequential([keras.layers.Dense(4, name="inner_dense"), keras.layers.BatchNormalization()],
                         name="inner")(h)
    s = keras.layers.Reshape((2, 2))(h)
    h = keras.layers.Flatten()(keras.layers.MultiHeadAttention(2, 3, name="mha")(s, s))
    h = Block(name="block")(h)
    if extra_layer is not None:
        h = extra_layer(h)
    model = keras.Model(inp, h)
    for v in model.non_trainable_variables:
        if "moving" in v.path:
            v.assign(RNG.uniform(0.5, 1.5, v.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    model = _model()
    path = str(tmp_path_factory.mktemp("kc") / "model.keras")
    model.save(path)
    return path, np.asarray(model(X, training=False))


def _records(caplog, name):
    return [r for r in caplog.records if r.name == name]


def _freeze(src, out, caplog):
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tfforge"):
        result = freeze(src, out)
    return result, _records(caplog, "tfforge.compat")


def _same_graph(a, b):
    """Both frozen graphs hold the same nodes: ops, and every Const's dtype, shape and bytes. Node names
    are not compared: sublayers created in a layer's constructor get fresh names each time a model is
    built in one process (dense_5, then dense_8)."""
    def summary(path):
        nodes = read_graph_def(path).node
        return sorted(n.op for n in nodes), sorted(n.attr["value"].SerializeToString(deterministic=True)
                                                   for n in nodes if n.op == "Const")
    assert summary(a) == summary(b)


def test_keras_pin_matches_installed_version():
    """pyproject pins the Keras range the compat checks were tested with; the installed Keras is in it."""
    with open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8") as f:
        pins = set(re.findall(r'"keras>=([\d.]+),<([\d.]+)"', f.read()))
    assert len(pins) == 1, pins
    (low, high), = pins
    version = tuple(int(p) for p in keras.__version__.split(".")[:2])
    assert tuple(int(p) for p in low.split(".")[:2]) <= version < tuple(int(p) for p in high.split(".")[:2])


@pytest.mark.parametrize("check", [compat_keras.deferred_build, compat_keras.own_variables, compat_keras.object_sharing,
                                   compat_tf.inline_helper, compat_tf.grappler, compat_tf.load_partial,
                                   compat_tf.op_registry, compat_tf.xla_context, compat_tf.transform_graph])
def test_every_feature_is_available_on_the_pinned_versions(check):
    feature = check()
    assert isinstance(feature, Feature)
    assert feature, f"{feature.name}: {feature.reason}"


def test_keras_fast_path_taken(keras_file, tmp_path, caplog):
    path, expected = keras_file
    out = str(tmp_path / "fast.pb")
    result, compat_lines = _freeze(path, out, caplog)
    assert compat_lines == []
    fast = [r for r in _records(caplog, "tfforge.convert") if "through its layout (fast path)" in r.getMessage()]
    assert len(fast) == 1
    (y,) = run_frozen(out, {result.inputs[0]: X}, [result.outputs[0]])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_keras_fast_path_pairs_every_saved_variable(keras_file):
    """The layout walk pairs each variable Keras saved with its own dataset (none left over), and values
    equal what Keras's load_weights assigns."""
    from tfforge.convert.keras_source import build_deferred, read_config
    path, _ = keras_file
    config = read_config(path)
    model = build_deferred(config, compat_keras.sharing_scope(config), path)
    fast = keras_weights.weight_arrays(model, path)
    slow = keras_weights.weight_arrays_via_keras(model, path)
    assert fast.keys() == slow.keys()
    assert [k for k, v in fast.items() if v is None] == [k for k, v in slow.items() if v is None]
    assert sum(v is not None for v in fast.values()) == 22  # all but the Dropout's seed state
    for key, value in fast.items():
        if value is not None:
            np.testing.assert_array_equal(value, slow[key])


def test_missing_keras_feature_logs_one_line_and_freezes_the_same_graph(keras_file, tmp_path, caplog, monkeypatch):
    path, expected = keras_file
    fast_out, slow_out = str(tmp_path / "fast.pb"), str(tmp_path / "slow.pb")
    _freeze(path, fast_out, caplog)
    monkeypatch.setattr(compat_keras, "own_variables",
                        lambda: missing("keras.layers.Layer.save_own_variables", "simulated"))
    result, lines = _freeze(path, slow_out, caplog)
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING
    message = lines[0].getMessage()
    assert "\n" not in message and "save_own_variables is unavailable (simulated)" in message
    assert "load_weights" in message
    _same_graph(fast_out, slow_out)
    (y,) = run_frozen(slow_out, {result.inputs[0]: X}, [result.outputs[0]])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_missing_deferred_build_freezes_through_load_model(keras_file, tmp_path, caplog, monkeypatch):
    path, expected = keras_file
    monkeypatch.setattr(compat_keras, "deferred_build", lambda: missing("keras.StatelessScope", "simulated"))
    out = str(tmp_path / "loaded.pb")
    result, lines = _freeze(path, out, caplog)
    assert len(lines) == 1 and "keras.StatelessScope is unavailable (simulated)" in lines[0].getMessage()
    assert "load_model" in lines[0].getMessage()
    (y,) = run_frozen(out, {result.inputs[0]: X}, [result.outputs[0]])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_layer_saving_computed_values_falls_back_with_one_line(tmp_path, caplog):
    model = _model(extra_layer=Doubled(name="doubled"))
    expected = np.asarray(model(X, training=False))
    path = str(tmp_path / "doubled.keras")
    model.save(path)
    out = str(tmp_path / "doubled.pb")
    result, lines = _freeze(path, out, caplog)
    assert len(lines) == 1
    assert "layers/doubled/vars/0: Doubled stores a computed value, not a variable" in lines[0].getMessage()
    (y,) = run_frozen(out, {result.inputs[0]: X}, [result.outputs[0]])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)  # Keras's load_own_variables halved it


def test_shared_objects_without_the_sharing_scope_fall_back(tmp_path, caplog, monkeypatch):
    """A config with shared_object_id entries needs Keras's private ObjectSharingScope; without it the file
    is loaded by keras.models.load_model, announced in one line."""
    import json
    import zipfile
    keras.utils.set_random_seed(2)
    inp = keras.Input((8,), name="x")
    model = keras.Model(inp, keras.layers.Dense(3, name="d")(inp))
    path = str(tmp_path / "shared.keras")
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][1]["config"]["kernel_initializer"]["shared_object_id"] = 1
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    monkeypatch.setattr(compat_keras, "object_sharing",
                        lambda: missing("keras.src.saving.serialization_lib.ObjectSharingScope", "simulated"))
    out = str(tmp_path / "shared.pb")
    result, lines = _freeze(path, out, caplog)
    assert len(lines) == 1 and "ObjectSharingScope is unavailable (simulated)" in lines[0].getMessage()
    (y,) = run_frozen(out, {result.inputs[0]: X}, [result.outputs[0]])
    np.testing.assert_allclose(y, np.asarray(model(X)), rtol=1e-5, atol=1e-6)


def test_savedmodel_fast_path_taken_and_missing_load_partial_falls_back(tmp_path, caplog, monkeypatch):
    src, _ = savedmodel_two_signatures()
    fast_out, slow_out = str(tmp_path / "fast.pb"), str(tmp_path / "slow.pb")
    _, lines = _freeze(src, fast_out, caplog)
    assert lines == []
    monkeypatch.setattr(compat_tf, "load_partial", lambda: missing("tf.__internal__.saved_model.load_partial",
                                                                   "simulated"))
    _, lines = _freeze(src, slow_out, caplog)
    assert len(lines) == 1 and "load_partial is unavailable (simulated)" in lines[0].getMessage()
    _same_graph(fast_out, slow_out)


def test_missing_inline_helper_inlines_through_grappler(tmp_path, caplog, monkeypatch):
    src, _ = savedmodel_two_signatures()
    ref_out, out = str(tmp_path / "ref.pb"), str(tmp_path / "grappler.pb")
    _freeze(src, ref_out, caplog)
    monkeypatch.setattr(compat_tf, "inline_helper", lambda: missing("_run_inline_graph_optimization", "simulated"))
    _, lines = _freeze(src, out, caplog)
    assert len(lines) == 1 and "_run_inline_graph_optimization is unavailable (simulated)" in lines[0].getMessage()
    _same_graph(ref_out, out)


def test_tflite_converter_switch_is_still_there():
    """keep_tensor_lists sets the converter's private switch when it exists, else logs once."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf.function(lambda x: x + 1.0).get_concrete_function(tf.TensorSpec([1], tf.float32))])
    assert hasattr(converter, "_experimental_lower_tensor_list_ops")
    compat_tf.keep_tensor_lists(converter)
    assert converter._experimental_lower_tensor_list_ops is False  # noqa: SLF001
    assert compat_tf.float_norm_quantizer(converter), compat_tf.float_norm_quantizer(converter).reason


def test_records_dataset_without_the_native_source_falls_back_with_one_line(tmp_path, monkeypatch, caplog):
    """tf.data's DatasetSource gone: records.dataset logs why and reads through TFRecordDataset + the parse op,
    with the same batches."""
    import numpy as np

    import tfforge.records as records
    from tfforge._compat import tf as compat_tf

    prefix = str(tmp_path / "d")
    records.write({"x": np.arange(10, dtype=np.int64), "y": np.arange(20, dtype=np.float32).reshape(10, 2)}, prefix)
    native = [{k: v.numpy() for k, v in b.items()} for b in records.dataset(prefix, 4)]
    monkeypatch.setattr(compat_tf, "dataset_source", lambda: compat_tf.missing("DatasetSource", "simulated"))
    with caplog.at_level("WARNING", logger="tfforge.compat"):
        fallen = [{k: v.numpy() for k, v in b.items()} for b in records.dataset(prefix, 4)]
    assert [r.getMessage() for r in caplog.records if "DatasetSource" in r.getMessage()] == [
        "tfforge: DatasetSource is unavailable (simulated); records.dataset reads with TFRecordDataset and the parse op"]
    assert len(native) == len(fallen) == 3
    for a, b in zip(native, fallen):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])


def test_delegation_count_without_the_interpreter_node_list_is_none(monkeypatch, caplog):
    """The interpreter's _get_ops_details gone: xnnpack_delegation returns None and says why once."""
    import tensorflow as tf

    from tfforge._compat import tf as compat_tf
    from tfforge.convert import xnnpack_delegation

    fn = tf.function(lambda x: tf.nn.relu(x) * 2.0, input_signature=[tf.TensorSpec([1, 4], tf.float32)])
    model = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()], fn).convert()
    assert xnnpack_delegation(model).nodes >= 1
    monkeypatch.setattr(compat_tf, "_interpreter_nodes",
                        lambda cls: compat_tf.missing("Interpreter._get_ops_details", "simulated"))
    monkeypatch.setattr(compat_tf, "_logged", set())
    with caplog.at_level("WARNING", logger="tfforge.compat"):
        assert xnnpack_delegation(model) is None
    assert any("Interpreter._get_ops_details is unavailable (simulated)" in r.getMessage() for r in caplog.records)
