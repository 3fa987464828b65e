"""_ops.so loads through `import tfforge.ops`, registers a real op with a shape function, and a
TensorFlow version mismatch is reported in one sentence."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import tfforge.ops  # noqa: E402
from tfforge import _native  # noqa: E402
from tfforge.errors import TensorFlowVersionMismatch  # noqa: E402
from tfforge.ops._loader import check_version, registered_ops  # noqa: E402


def test_import_registers_the_ops():
    assert "TfforgeCrc32c" in registered_ops()


def test_crc_op_computes_per_string_crc():
    data = [[b"123456789", b""], [b"tfforge", np.random.default_rng(0).bytes(5000)]]
    got = tfforge.ops.crc32c(tf.constant(data)).numpy()
    assert got.dtype == np.int64 and got.shape == (2, 2)
    assert got[0, 0] == 0xE3069283
    assert got.tolist() == [[_native.crc32c(s) for s in row] for row in data]
    masked = tfforge.ops.crc32c(tf.constant(data), masked=True).numpy()
    assert masked.tolist() == [[_native.masked_crc32c(s) for s in row] for row in data]


def test_shape_function_passes_shapes_through_tf_function():
    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.string)])
    def f(x):
        y = tfforge.ops.crc32c(x)
        assert y.shape.as_list() == [None, 3]
        return y

    assert f(tf.fill([4, 3], "a")).shape == (4, 3)

    @tf.function(input_signature=[tf.TensorSpec(None, tf.string)])
    def unknown_rank(x):
        y = tfforge.ops.crc32c(x)
        assert y.shape.rank is None
        return y

    assert unknown_rank(tf.constant("abc")).numpy() == _native.crc32c(b"abc")


def test_version_check_names_both_versions():
    check_version("2.21.0", "2.21.3")  # patch releases share the ABI
    with pytest.raises(TensorFlowVersionMismatch) as info:
        check_version("2.21.0", "2.20.1")
    message = str(info.value)
    assert "2.21.0" in message and "2.20.1" in message and "rebuild" in message
    assert message.count(". ") == 0  # one sentence


def test_mismatched_tensorflow_gives_one_clear_sentence(python_runner):
    out = python_runner("""
        import tensorflow as tf
        tf.__version__ = "2.19.0"   # what a user with another TensorFlow would have
        try:
            import tfforge.ops
        except ImportError as exc:
            print(type(exc).__name__ + ": " + str(exc))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("TensorFlowVersionMismatch: ")
    assert "TensorFlow 2.21" in out.stdout and "TensorFlow 2.19.0" in out.stdout
    assert "undefined symbol" not in out.stdout + out.stderr


def test_doctor_reports_the_mismatch_instead_of_crashing(python_runner):
    out = python_runner("""
        import tensorflow as tf
        tf.__version__ = "2.19.0"
        from tfforge.doctor import report
        rep = report()
        print(rep["ops_loaded"], rep["ops_error"])
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("False ") and "2.19.0" in out.stdout
