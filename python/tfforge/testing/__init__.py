"""Checks for TensorFlow custom ops, the ones tfforge's own op tests make, for anyone's op.

Each check raises AssertionError naming the case that failed (so it reads well under pytest) and
returns what it measured::

    from tfforge import testing
    testing.check_values(my_op, reference, shapes=[(7,), (16, 1000)], dtypes=["float32", "bfloat16"],
                         make_inputs=lambda shape, dtype, seed: (testing.random(shape, dtype, seed),))
    testing.check_gradients(my_op, [x])                      # tf.test.compute_gradient
    testing.check_gradients_match(my_op, reference, [x])     # against the reference's gradients
    testing.check_shape_function(my_op, [tf.TensorSpec([None, 8])], [x])
    testing.check_saved_model(my_op, [x], imports=["my_package"], directory=tmp_path)
    testing.check_xla(my_op, reference, [x])
    testing.check_bad_inputs(my_op, [((tf.ones([2, 3]), tf.ones([4])), "must be a vector")])
"""

from tfforge.testing.errors import check_bad_inputs
from tfforge.testing.gradients import check_gradients, check_gradients_match
from tfforge.testing.saved_model import check_saved_model
from tfforge.testing.shapes import check_shape_function
from tfforge.testing.values import TOLERANCE, assert_close, check_values, max_error, random, tolerance
from tfforge.testing.xla import check_xla

__all__ = ["TOLERANCE", "assert_close", "check_bad_inputs", "check_gradients", "check_gradients_match",
           "check_saved_model", "check_shape_function", "check_values", "check_xla", "max_error", "random",
           "tolerance"]
