"""`tfforge.optimize` on SavedModels of real architectures, built here with random weights and tiny sizes:
a keras-hub BERT encoder backbone, a keras-hub Gemma backbone (RMSNorm with 1 + scale, gated tanh GELU
without bias), a Keras 3 ViT-style block (LayerNorm, MultiHeadAttention, Dense GELU MLP), Keras 3 layers
under mixed_float16, and a tf-keras model (both of its LayerNormalization paths, MultiHeadAttention). For
each: the fused sites in the serving path equal the LayerNorm / RMSNorm / GELU layers and the attention
projections, TensorFlow
gives the same outputs for source and result, and the result loads in a fresh process after
`import tfforge.ops` (the signatures kept)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
keras = pytest.importorskip("keras")

import tfforge
import tfforge.graph as tg
import tfforge.ops
from tfforge.convert import verify

from fresh_load import run_in_fresh_process

RNG = np.random.default_rng(0)


def serving_functions(path):
    """The library functions the SavedModel's graph calls (the serving path), with the graph itself ("")."""
    return set(tg.load(path).called_functions()) | {""}


def optimized(tmp_path_factory, name, build):
    """Builds and exports a model, optimizes it; (src, dst, report, counts in the serving path)."""
    root = tmp_path_factory.mktemp(name)
    src, dst = root / "src", root / "dst"
    build(src)
    report = tfforge.optimize(src, dst, verify=False)
    serving = serving_functions(dst)
    counts = {p: report.count(p, serving) for p in ("layer_norm", "rms_norm", "bias_gelu", "projection", "attention")}
    return src, dst, report, counts


def _bert(path):
    keras_hub = pytest.importorskip("keras_hub")
    model = keras_hub.models.BertBackbone(vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16,
                                          intermediate_dim=32, max_sequence_length=16)
    model.export(str(path), verbose=False)


def _gemma(path):
    keras_hub = pytest.importorskip("keras_hub")
    model = keras_hub.models.GemmaBackbone(vocabulary_size=64, num_layers=2, num_query_heads=2, num_key_value_heads=1,
                                           hidden_dim=16, intermediate_dim=32, head_dim=8)
    model.export(str(path), verbose=False)


def _vit_block(path):
    x = keras.Input((8, 16))
    h = keras.layers.LayerNormalization(epsilon=1e-6)(x)
    h = x + keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(h, h)
    m = keras.layers.LayerNormalization(epsilon=1e-6)(h)
    m = keras.layers.Dense(32, activation="gelu")(m)
    m = keras.layers.Dense(16)(m)
    model = keras.Model(x, keras.layers.LayerNormalization()(h + m))
    model.export(str(path), verbose=False)


def _tf_keras(path):
    tfk = pytest.importorskip("tf_keras")
    x = tfk.Input((8, 16))
    h = tfk.layers.LayerNormalization()(x)
    h = h + tfk.layers.MultiHeadAttention(num_heads=2, key_dim=8)(h, h)  # EinsumDense: tf.einsum projections
    h = tfk.layers.Dense(32, activation="gelu")(h)
    h = tfk.layers.Dense(16, activation=lambda t: tf.nn.gelu(t, approximate=True))(h)
    model = tfk.Model(x, tfk.layers.LayerNormalization(epsilon=1e-5)(h))
    tf.saved_model.save(model, str(path))


def _mixed_float16(path):
    """Keras 3 layers under a mixed_float16 policy: the norms run in float32 between Casts, the GELU in
    float16 with its constants cast to float16."""
    x = keras.Input((8, 16))
    h = keras.layers.LayerNormalization(dtype="mixed_float16")(x)
    h = keras.layers.Dense(32, activation="gelu", dtype="mixed_float16")(h)
    model = keras.Model(x, keras.layers.RMSNormalization(dtype="mixed_float16")(h))
    model.export(str(path), verbose=False)


# projection: the attention layers' query, key, value and output projections (4 per layer; Gemma's gated
# FFN adds its 3 EinsumDense per layer); Dense on a sequence is a MatMul already.
MODELS = {"bert": (_bert, {"layer_norm": 5, "rms_norm": 0, "bias_gelu": 2, "projection": 8, "attention": 2}),
          "mixed_float16": (_mixed_float16, {"layer_norm": 1, "rms_norm": 1, "bias_gelu": 1, "projection": 0,
                                             "attention": 0}),
          "gemma": (_gemma, {"layer_norm": 0, "rms_norm": 5, "bias_gelu": 2, "projection": 14, "attention": 0}),
          "vit_block": (_vit_block, {"layer_norm": 3, "rms_norm": 0, "bias_gelu": 1, "projection": 4, "attention": 1}),
          "tf_keras": (_tf_keras, {"layer_norm": 2, "rms_norm": 0, "bias_gelu": 2, "projection": 4, "attention": 1})}
# Gemma's grouped-query attention (5-D einsums) is an attention site fuse_attention leaves alone.
LEFT_ALONE = {"gemma": "attention"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return {name: optimized(tmp_path_factory, name, build) for name, (build, _) in MODELS.items()}


def _feeds(name):
    if name in ("bert", "gemma"):
        feeds = {"token_ids": RNG.integers(0, 64, (3, 12)).astype(np.int32),
                 "padding_mask": np.ones((3, 12), np.int32)}
        if name == "bert":
            feeds["segment_ids"] = RNG.integers(0, 2, (3, 12)).astype(np.int32)
        return feeds
    return None


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_layer_is_fused_and_outputs_match(models, name):
    src, dst, report, counts = models[name]
    assert counts == MODELS[name][1], report.sites
    assert not [s for s in report.not_fused if s.function in serving_functions(src)
                and s.pattern != LEFT_ALONE.get(name)], report.not_fused
    parity = verify(src, dst, feeds=_feeds(name), samples=3)
    tolerance = 1e-2 if name == "mixed_float16" else 1e-4  # float16 outputs: 2^-11 relative steps
    assert parity.outputs and parity.max_abs < tolerance, parity.table()


def test_the_results_load_in_a_fresh_process(models, tmp_path):
    """Every optimized SavedModel loads after `import tfforge.ops`, keeps its signatures, and computes what
    the source computed (outputs of the source saved here)."""
    def feeds_for(name):
        return lambda fn: _feeds(name) or {k: RNG.standard_normal((2, 8, 16)).astype(np.float32)
                                           for k in fn.structured_input_signature[1]}
    cases = {name: (src, dst, feeds_for(name)) for name, (src, dst, _, _) in models.items()}
    errors = {name: got["error"] for name, got in run_in_fresh_process(cases, tmp_path).items()}
    assert set(errors) == set(MODELS), errors
    assert all(e < (1e-2 if n == "mixed_float16" else 1e-4) for n, e in errors.items()), errors


def test_the_result_keeps_the_saved_model_parts(models):
    src, dst, report, _ = models["vit_block"]
    assert sorted(p.name for p in (dst / "variables").iterdir()) == sorted(p.name for p in (src / "variables").iterdir())
    note = json.loads((dst / "assets.extra" / "tfforge.json").read_text())
    assert note["required_ops"] == ["TfforgeAttention", "TfforgeBiasGelu", "TfforgeLayerNorm"]
    assert tfforge.ops.required_ops(dst) == ["TfforgeAttention", "TfforgeBiasGelu", "TfforgeLayerNorm"]
    assert set(tg.load(dst).library_functions) == set(tg.load(src).library_functions)


def test_cli_table_and_json(models, tmp_path):
    src = models["vit_block"][0]
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "optimize", str(src), str(tmp_path / "o"), "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {(f["pattern"], f["count"]) for f in data["fused"]} == {("layer_norm", 3), ("bias_gelu", 1), ("projection", 4),
                                                                     ("attention", 1)}
    assert data["parity"]["max_abs"] < 1e-4
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "optimize", str(src), str(tmp_path / "t"),
                          "--no-verify"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "fused 9 site(s) (layer_norm 3, bias_gelu 1, projection 4, attention 1)" in out.stdout and "verify" not in out.stdout



def test_cli_verifies_a_bert_backbone_with_its_own_random_inputs(models, tmp_path):
    """Without --feeds, verify's random integers (0 or 1) are valid token ids, segment ids and masks,
    so the BERT source model runs and the default `tfforge optimize` checks parity."""
    src = models["bert"][0]
    out = subprocess.run([sys.executable, "-m", "tfforge.cli.main", "optimize", str(src), str(tmp_path / "o"), "--json"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    parity = json.loads(out.stdout)["parity"]
    assert parity["outputs"] and parity["max_abs"] < 1e-4, parity
