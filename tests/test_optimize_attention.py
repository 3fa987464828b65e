"""fuse_attention and TfforgeAttention: the attention core of Keras' MultiHeadAttention (scores of the
scaled query and the key, masked softmax, context with the value) in one op over [batch, length, heads,
head_dim]. The op against a float64 numpy reference (masks broadcast over heads, fully masked rows,
sizes that are not multiples of the vector width) and its gradient against TensorFlow's numeric one; the
pass on a keras-hub BERT backbone and Keras 3 MultiHeadAttention blocks with and without a mask (one
site per attention layer, the same outputs, the result loads in a fresh process after
`import tfforge.ops`), on the chain written by hand with tf.einsum, and near-misses left alone with their
reason: softmax over another axis, another equation, scores read elsewhere, tf-keras' additive mask."""

import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import tfforge
import tfforge.graph as tg
import tfforge.ops
from tfforge.convert import verify
from fresh_load import run_in_fresh_process
from fuse_fuzz import flip_bytes_and_fuse

RNG = np.random.default_rng(0)


def np_attention(q, k, v, mask=None, fill=-1e9):
    s = np.einsum("btnh,bsnh->bnts", q.astype(np.float64), k.astype(np.float64))
    if mask is not None:
        m = np.broadcast_to(mask, s.shape)
        s = np.where(m, s, fill)
    e = np.exp(s - s.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    if mask is not None:
        p = np.where(m, p, 0.0)
    return np.einsum("bnts,bsnh->btnh", p, v.astype(np.float64))


def qkv(b, t, s, n, h):
    return [RNG.standard_normal(shape).astype(np.float32) for shape in ((b, t, n, h), (b, s, n, h), (b, s, n, h))]


@pytest.mark.parametrize("b,t,s,n,h", [(2, 5, 7, 3, 4), (1, 9, 33, 2, 70), (2, 16, 16, 2, 64), (1, 3, 1, 1, 8)])
def test_the_op_matches_numpy(b, t, s, n, h):
    q, k, v = qkv(b, t, s, n, h)
    np.testing.assert_allclose(tfforge.ops.attention(q, k, v).numpy(), np_attention(q, k, v), atol=1e-5)
    mask = RNG.random((b, 1, t, s)) > 0.3
    mask[0, 0, 0, :] = False  # a fully masked row: zeros, as Keras' masked softmax gives
    for m in (mask, mask[:1], mask[0, 0], RNG.random((b, n, t, s)) > 0.5):
        got = tfforge.ops.attention(q, k, v, m).numpy()
        np.testing.assert_allclose(got, np_attention(q, k, v, m), atol=1e-5)
    assert not np.any(tfforge.ops.attention(q, k, v, mask).numpy()[0, 0])


def test_the_op_matches_the_reference_composition():
    q, k, v = qkv(2, 6, 10, 2, 8)
    m = RNG.random((2, 1, 6, 10)) > 0.4
    want = tfforge.ops.reference.attention(q, k, v, m, mask_fill=-1e4).numpy()
    np.testing.assert_allclose(tfforge.ops.attention(q, k, v, m, mask_fill=-1e4).numpy(), want, atol=1e-5)


def test_bad_shapes_are_invalid_argument():
    q, k, v = qkv(2, 5, 7, 3, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="mask must broadcast"):
        tfforge.ops.attention(q, k, v, np.ones((2, 5, 7), bool))  # [B, T, S] lines B up with the heads
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError), match="same shape|Dimensions must be equal"):
        tfforge.ops.attention(q, k, v[:, :3])


@pytest.mark.parametrize("masked", [False, True])
def test_the_gradient_matches_the_numeric_one(masked):
    q, k, v = (x.astype(np.float64).astype(np.float32) for x in qkv(1, 3, 4, 2, 3))
    mask = RNG.random((1, 1, 3, 4)) > 0.3 if masked else None
    if masked:
        mask[0, 0, 1, :] = False
    theoretical, numerical = tf.test.compute_gradient(
        lambda q, k, v: tfforge.ops.attention(q, k, v, mask), [q, k, v], delta=1e-2)
    for a, n in zip(theoretical, numerical):
        np.testing.assert_allclose(a, n, atol=2e-3)


def test_the_gradient_in_a_tf_function_matches_the_reference_composition():
    q, k, v = (tf.constant(x) for x in qkv(2, 5, 5, 3, 4))
    m = tf.constant(RNG.random((2, 1, 5, 5)) > 0.3)

    @tf.function
    def grads(f):
        with tf.GradientTape() as tape:
            tape.watch([q, k, v])
            y = tf.reduce_sum(tf.sin(f(q, k, v, m, scale=0.5, zero_masked=False)))
        return tape.gradient(y, [q, k, v])
    for got, want in zip(grads(tfforge.ops.attention), grads(tfforge.ops.reference.attention)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)


# --- the pass on Keras models ---

def _bert(path):
    keras_hub = pytest.importorskip("keras_hub")
    model = keras_hub.models.BertBackbone(vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16,
                                          intermediate_dim=32, max_sequence_length=16)
    model.export(str(path), verbose=False)


def _mha(causal):
    def build(path):
        keras = pytest.importorskip("keras")
        x = keras.Input((8, 16), name="x")
        h = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x, use_causal_mask=causal)
        keras.Model(x, keras.layers.LayerNormalization()(x + h)).export(str(path), verbose=False)
    return build


def _bert_feeds():
    mask = np.ones((3, 12), np.int32)
    mask[1, 7:] = 0
    mask[2, :] = 0  # every key masked: the fully masked rows of Keras' masked softmax
    return {"token_ids": RNG.integers(0, 64, (3, 12)).astype(np.int32), "padding_mask": mask,
            "segment_ids": RNG.integers(0, 2, (3, 12)).astype(np.int32)}


# Keras 3 MultiHeadAttention with a mask (causal here) also reads the scores' shape (ones_like) for the
# mask: that Shape is rebuilt from the query's and key's shapes.
MODELS = {"bert": (_bert, 2, _bert_feeds), "mha": (_mha(False), 1, None), "mha_causal": (_mha(True), 1, None)}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = {}
    for name, (build, _, _) in MODELS.items():
        root = tmp_path_factory.mktemp(name)
        build(root / "src")
        out[name] = (root / "src", root / "dst", tfforge.optimize(root / "src", root / "dst", verify=False))
    return out


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_attention_layer_is_fused_and_outputs_match(models, name):
    src, dst, report = models[name]
    serving = set(tg.load(dst).called_functions()) | {""}
    assert report.count("attention", serving) == MODELS[name][1], report.sites
    assert not [s for s in report.not_fused if s.pattern == "attention" and s.function in serving], report.not_fused
    feeds = MODELS[name][2]() if MODELS[name][2] else None
    parity = verify(src, dst, feeds=feeds, samples=3)
    assert parity.outputs and parity.max_abs < 1e-5, parity.table()


def test_grouped_query_attention_is_left_alone_with_its_reason(tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    keras_hub.models.GemmaBackbone(vocabulary_size=64, num_layers=1, num_query_heads=2, num_key_value_heads=1,
                                   hidden_dim=16, intermediate_dim=32, head_dim=8).export(str(tmp_path / "src"),
                                                                                          verbose=False)
    report = tfforge.optimize(tmp_path / "src", tmp_path / "dst", verify=False)
    sites = [s for s in report.sites if s.pattern == "attention"]
    assert sites and not any(s.fused for s in sites) and all("Einsum" in s.reason for s in sites), sites


def test_the_results_load_in_a_fresh_process(models, tmp_path):
    def feeds_for(name):
        return lambda fn: (MODELS[name][2]() if MODELS[name][2] else
                           {"x": RNG.standard_normal((2, 8, 16)).astype(np.float32)})
    cases = {name: (src, dst, feeds_for(name)) for name, (src, dst, _) in models.items()}
    result = run_in_fresh_process(cases, tmp_path)
    for name, got in result.items():
        err, fused, signatures = got["error"], "TfforgeAttention" in got["ops"], got["signatures"]
        assert err < 1e-5 and fused and "serving_default" in signatures, (name, err, fused, signatures)


# --- hand-written chains (frozen TF1 graphs) ---

B, T, N, H = 2, 8, 2, 4


def _inputs():
    x = tf.compat.v1.placeholder(tf.float32, (None, T, N * H), name="x")
    q = tf.reshape(x, [-1, T, N, H]) * H ** -0.5
    k = tf.reshape(x * 0.5 + 1.0, [-1, T, N, H])
    v = tf.reshape(x * 2.0 - 1.0, [-1, T, N, H])
    mask = tf.cast(tf.linalg.band_part(tf.ones([T, T]), -1, 0), tf.bool)[None, None]
    return q, k, v, mask


def _keras3_scores(q, k):
    return tf.transpose(tf.matmul(tf.transpose(k, [0, 2, 1, 3]), tf.transpose(q, [0, 2, 3, 1])), [0, 1, 3, 2])


def _keras3_context(p, v):
    return tf.transpose(tf.matmul(p, tf.transpose(v, [0, 2, 1, 3])), [0, 2, 1, 3])


def _masked_softmax(s, mask, axis=-1):
    return tf.where(mask, tf.nn.softmax(tf.where(mask, s, -1e9), axis=axis), 0.0)


def frozen(tmp_path, build):
    g = tf.Graph()
    with g.as_default():
        tf.identity(tf.reshape(build(*_inputs()), [-1, T, N * H]), name="y")
    path = tmp_path / "model.pb"
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def _sites(tmp_path, build):
    src = frozen(tmp_path, build)
    report = tfforge.optimize(src, tmp_path / "out.pb")
    assert report.parity.outputs and report.parity.max_abs < 1e-5, report.parity.table()
    return [s for s in report.sites if s.pattern == "attention"], tmp_path / "out.pb"


@pytest.mark.parametrize("form", ["keras3", "einsum"])
@pytest.mark.parametrize("masked", [False, True])
def test_hand_written_chains_are_fused(tmp_path, form, masked):
    def build(q, k, v, mask):
        s = _keras3_scores(q, k) if form == "keras3" else tf.einsum("aecd,abcd->acbe", k, q)
        p = _masked_softmax(s, mask) if masked else tf.nn.softmax(s)
        return _keras3_context(p, v) if form == "keras3" else tf.einsum("acbe,aecd->abcd", p, v)
    sites, out = _sites(tmp_path, build)
    assert len(sites) == 1 and sites[0].fused, sites
    ops = [n.op for n in tg.load(out).nodes]
    assert "TfforgeAttention" in ops and "Softmax" not in ops and "BatchMatMulV2" not in ops and "Einsum" not in ops


def test_the_pass_runs_in_transform_syntax(tmp_path):
    src = frozen(tmp_path, lambda q, k, v, m: _keras3_context(_masked_softmax(_keras3_scores(q, k), m), v))
    g = tg.load(src).apply("fuse_attention", outputs=["y"])
    assert [n.op for n in g.nodes].count("TfforgeAttention") == 1
    g.save(tmp_path / "t.pb")
    parity = verify(src, tmp_path / "t.pb")
    assert parity.outputs and parity.max_abs < 1e-5


def _left_alone(tmp_path, build, words):
    sites, out = _sites(tmp_path, build)
    assert sites and not any(s.fused for s in sites), sites
    assert any(words in s.reason for s in sites), [s.reason for s in sites]
    assert "TfforgeAttention" not in [n.op for n in tg.load(out).nodes]


def test_softmax_over_another_axis_is_left_alone(tmp_path):
    def build(q, k, v, mask):
        return _keras3_context(tf.nn.softmax(tf.einsum("aecd,abcd->acbe", k, q) + 0.0, axis=-2), v)
    src = frozen(tmp_path, build)
    report = tfforge.optimize(src, tmp_path / "out.pb")
    assert not any(s.fused for s in report.sites if s.pattern == "attention"), report.sites
    assert "TfforgeAttention" not in [n.op for n in tg.load(tmp_path / "out.pb").nodes]


def test_another_equation_is_left_alone(tmp_path):
    # the probabilities summed over the keys times the value at the query's position: not a context
    def build(q, k, v, mask):
        return tf.einsum("acbe,abcd->abcd", tf.nn.softmax(tf.einsum("aecd,abcd->acbe", k, q)), v)
    _left_alone(tmp_path, build, "not \"acbe,aecd->abcd\"")


def test_scores_with_another_consumer_are_left_alone(tmp_path):
    def build(q, k, v, mask):
        s = _keras3_scores(q, k)
        return _keras3_context(tf.nn.softmax(s), v) + tf.reduce_mean(s)
    _left_alone(tmp_path, build, "extra consumer")


def test_a_mask_that_differs_after_the_softmax_is_left_alone(tmp_path):
    def build(q, k, v, mask):
        p = tf.where(tf.logical_not(mask), tf.nn.softmax(tf.where(mask, _keras3_scores(q, k), -1e9)), 0.0)
        return _keras3_context(p, v)
    _left_alone(tmp_path, build, "same mask")


def test_an_additive_mask_is_left_alone_with_its_reason(tmp_path):
    def build(q, k, v, mask):  # tf-keras' Softmax layer: (1 - mask) * -large added to the scores
        s = tf.einsum("aecd,abcd->acbe", k, q) + (1.0 - tf.cast(mask, tf.float32)) * -1e9
        return tf.einsum("acbe,aecd->abcd", tf.nn.softmax(s), v)
    _left_alone(tmp_path, build, "additive mask")


def test_mutated_graphs_give_a_result_or_a_tfforge_error(tmp_path):
    """Byte flips in a graph holding the masked keras-hub chain: the pass returns a graph or raises a
    tfforge error, never crashes."""
    data = frozen(tmp_path, lambda q, k, v, m: _keras3_context(_masked_softmax(_keras3_scores(q, k), m), v)).read_bytes()
    assert "ok" in flip_bytes_and_fuse(data, ["attention"], ["y"], seed=3)
