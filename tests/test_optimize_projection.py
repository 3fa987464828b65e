"""fuse_projection on hand-written TF1 graphs (frozen: weights are constants): the projections attention
code writes (tf.einsum "abc,cde->abde" with a [heads, size] bias, tf.matmul of a sequence by a matrix
with and without transpose_b, the output projection "abnh,nhd->abd", Gemma's "abc,dce->abde" with the
weight's axes in another order) become MatMul + BiasAdd + Reshape, TensorFlow gives the same outputs,
and the products of two activations (scores, context) are not candidates. Near-misses: x adjoint, a
contraction over a middle axis of x, a weight with a batch axis, are left alone with their reason; a
bias over part of the output axes, a bias that is not a parameter and an intermediate read elsewhere
keep their bias add (the product alone is rewritten) and every consumer sees what it saw."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfforge
import tfforge.graph as tg
from tfforge.convert import verify
from fuse_fuzz import flip_bytes_and_fuse

S, C, HEADS, SIZE = 8, 16, 2, 8
RNG = np.random.default_rng(0)


def const(*shape):
    return tf.constant(RNG.standard_normal(shape).astype(np.float32))


def frozen(tmp_path, build, name="model.pb", x_shape=(None, S, C)):
    g = tf.Graph()
    with g.as_default():
        x = tf.compat.v1.placeholder(tf.float32, x_shape, name="x")
        tf.identity(build(x), name="y")
    path = tmp_path / name
    path.write_bytes(g.as_graph_def().SerializeToString())
    return path


def _attention(x):
    q = tf.einsum("abc,cde->abde", x, const(C, HEADS, SIZE)) + const(HEADS, SIZE)          # tf-keras EinsumDense
    k = tf.reshape(tf.matmul(x, const(C, C)), [-1, S, HEADS, SIZE]) + const(HEADS, SIZE)  # Keras 3 EinsumDense
    v = tf.reshape(tf.matmul(x, const(C, C), transpose_b=True) + const(C), [-1, S, HEADS, SIZE])
    scores = tf.nn.softmax(tf.einsum("abnh,acnh->anbc", q, k) * SIZE ** -0.5)              # two activations
    ctx = tf.einsum("anbc,acnh->abnh", scores, v)
    out = tf.einsum("abnh,nhd->abd", ctx, const(HEADS, SIZE, C)) + const(C)                # output projection
    gate = tf.einsum("abc,dce->abde", out, const(HEADS, C, SIZE))                          # Gemma: w's axes permuted
    return tf.reshape(gate, [-1, S, C])


def close(parity, rel=1e-5):
    """Same outputs up to float32 rounding (the random weights make outputs in the hundreds)."""
    return parity.outputs and all(o.max_rel < rel for o in parity.outputs)


def _product_ops(path):
    return sorted(n.op for n in tg.load(path).nodes if n.op in ("Einsum", "BatchMatMulV2", "MatMul", "BiasAdd"))


def test_attention_projections_are_rewritten_and_match(tmp_path):
    src = frozen(tmp_path, _attention)
    report = tfforge.optimize(src, tmp_path / "fused.pb")
    sites = [s for s in report.sites if s.pattern == "projection"]
    assert len(sites) == 5 and all(s.fused for s in sites), sites  # the two attention einsums: no candidates
    assert sum(s.detail.startswith("bias") for s in sites) == 4, [s.detail for s in sites]  # Gemma's has none
    # the scores and context einsums with the softmax between them: one TfforgeAttention (fuse_attention)
    assert _product_ops(tmp_path / "fused.pb") == ["BiasAdd"] * 4 + ["MatMul"] * 5
    assert report.count("attention") == 1
    assert close(report.parity), report.parity.table()


def test_the_pass_runs_in_transform_syntax(tmp_path):
    src = frozen(tmp_path, _attention)
    g = tg.load(src).apply("fuse_projection", outputs=["y"])
    assert sorted(n.op for n in g.nodes).count("MatMul") == 5
    g.save(tmp_path / "t.pb")
    assert close(verify(src, tmp_path / "t.pb"))


def _left_alone(tmp_path, build, words, x_shape=(None, S, C)):
    src = frozen(tmp_path, build, x_shape=x_shape)
    report = tfforge.optimize(src, tmp_path / "out.pb")
    sites = [s for s in report.sites if s.pattern == "projection"]
    assert sites and not any(s.fused for s in sites), sites
    assert any(words in s.reason for s in sites), [s.reason for s in sites]
    assert close(report.parity, 1e-7)
    assert "MatMul" not in [n.op for n in tg.load(tmp_path / "out.pb").nodes]


def test_x_adjoint_is_left_alone(tmp_path):
    _left_alone(tmp_path, lambda x: tf.matmul(x, const(S, C), adjoint_a=True), "adj_x")


def test_a_contraction_over_a_middle_axis_is_left_alone(tmp_path):
    _left_alone(tmp_path, lambda x: tf.einsum("abc,bd->acd", x, const(S, C)), "other than its last")


def test_a_weight_with_a_batch_axis_is_left_alone(tmp_path):
    _left_alone(tmp_path, lambda x: tf.matmul(x, const(2, C, C)), "shared by the batch", x_shape=(2, S, C))


def _bias_kept(tmp_path, build, adds):
    src = frozen(tmp_path, build)
    report = tfforge.optimize(src, tmp_path / "out.pb")
    sites = [s for s in report.sites if s.pattern == "projection"]
    assert len(sites) == 1 and sites[0].fused and not sites[0].detail.startswith("bias"), sites
    ops = [n.op for n in tg.load(tmp_path / "out.pb").nodes]
    assert "MatMul" in ops and "BiasAdd" not in ops and ops.count("AddV2") == adds, ops
    assert close(report.parity), report.parity.table()


def test_a_bias_over_part_of_the_output_axes_stays_an_add(tmp_path):
    # [SIZE] repeats across the heads: not a per-output bias of the product
    _bias_kept(tmp_path, lambda x: tf.einsum("abc,cde->abde", x, const(C, HEADS, SIZE)) + const(SIZE), 1)


def test_a_bias_that_is_an_activation_stays_an_add(tmp_path):
    _bias_kept(tmp_path, lambda x: tf.matmul(x, const(C, C)) + x, 1)


def test_an_intermediate_read_elsewhere_keeps_its_value(tmp_path):
    def build(x):
        h = tf.reshape(tf.matmul(x, const(C, C)), [-1, S, HEADS, SIZE])
        return tf.concat([h + const(HEADS, SIZE), h * 2.0], -1)  # the reshape feeds the bias add and a Mul
    _bias_kept(tmp_path, build, 1)


def test_mutated_graphs_give_a_result_or_a_tfforge_error(tmp_path):
    """Byte flips in a graph with every projection form: the pass returns a graph or raises a tfforge
    error, never crashes."""
    data = frozen(tmp_path, _attention).read_bytes()
    assert "ok" in flip_bytes_and_fuse(data, ["projection"], ["y"], seed=2)


def test_an_optimized_keras_attention_model_exports_whole_to_litert(tmp_path):
    """`tfforge optimize` output of a Keras 3 attention block (projections rewritten, LayerNorm and GELU
    fused) exports to a .tflite that XNNPack takes whole, with the same outputs as TensorFlow: the
    projection's shape arithmetic folds away once the input shape is pinned."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = pytest.importorskip("keras")
    pytest.importorskip("ai_edge_litert.interpreter")
    from tfforge.convert import convert
    from tfforge.convert.litert_delegation import xnnpack_delegation
    from tfforge.convert.runners import TFLiteRunner
    x = keras.Input((S, C), name="x")
    h = keras.layers.LayerNormalization()(x)
    h = x + keras.layers.MultiHeadAttention(num_heads=HEADS, key_dim=SIZE)(h, h)
    m = keras.layers.Dense(2 * C, activation="gelu")(keras.layers.LayerNormalization()(h))
    model = keras.Model(x, h + keras.layers.Dense(C)(m))
    model.export(str(tmp_path / "src"), verbose=False)
    report = tfforge.optimize(tmp_path / "src", tmp_path / "dst", verify=False)
    assert report.count("projection") >= 4 and report.count("layer_norm") >= 2
    dst = tmp_path / "m.tflite"
    convert(tmp_path / "dst", dst, input_shapes={"x": (1, S, C)}, verify=False)
    assert xnnpack_delegation(dst).whole, xnnpack_delegation(dst).summary()
    data = RNG.standard_normal((1, S, C)).astype(np.float32)
    runner = TFLiteRunner(str(dst))
    got = runner.run({runner.inputs[0].name: data})[runner.outputs[0]]
    ref = model.predict(data, verbose=0)
    assert np.max(np.abs(got - ref)) / np.max(np.abs(ref)) < 1e-5


def test_a_projection_inside_a_tf1_while_loop_runs(tmp_path):
    """A TF1 while loop (Enter / Merge / NextIteration frames) whose body projects the sequence by a
    weight built in the body: the rewrite's constants run in the loop's frame, and the loop computes
    what it computed."""
    from tensorflow.python.ops import control_flow_v2_toggles as toggles
    was_v2 = toggles.control_flow_v2_enabled()
    toggles.disable_control_flow_v2()
    try:
        def build(x):
            def body(i, h):
                w = tf.constant(0.2 * RNG.standard_normal((C, C)).astype(np.float32))
                return i + 1, tf.einsum("abc,cd->abd", h, w) + const(C)
            return tf.compat.v1.while_loop(lambda i, h: i < 3, body, [tf.constant(0), x])[1]
        src = frozen(tmp_path, build)
    finally:
        if was_v2:
            toggles.enable_control_flow_v2()
    assert "Enter" in {n.op for n in tg.load(src).nodes}
    report = tfforge.optimize(src, tmp_path / "out.pb")
    assert report.count("projection") == 1 and report.sites[0].detail.startswith("bias"), report.sites
    assert close(report.parity), report.parity.table()


def test_keras_attention_under_mixed_float16(tmp_path):
    """Keras 3 MultiHeadAttention under mixed_float16: the projections run in float16 and are rewritten
    in float16 (MatMul and BiasAdd have float16 CPU kernels); outputs agree to float16 rounding."""
    import os
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    keras = pytest.importorskip("keras")
    x = keras.Input((S, C))
    model = keras.Model(x, keras.layers.MultiHeadAttention(HEADS, SIZE, dtype="mixed_float16")(x, x))
    model.export(str(tmp_path / "src"), verbose=False)
    report = tfforge.optimize(tmp_path / "src", tmp_path / "dst", samples=3)
    serving = set(tg.load(tmp_path / "dst").called_functions()) | {""}
    assert report.count("projection", serving) == 4, report.sites
    assert report.parity.max_abs < 1e-2, report.parity.table()
