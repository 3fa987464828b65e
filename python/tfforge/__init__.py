"""tfforge: fast native tools for TensorFlow users.

Subpackages: ``tfforge.records`` (TFRecord I/O, no TensorFlow needed), ``tfforge.graph``
(GraphDef engine, no TensorFlow needed), ``tfforge.ops`` and ``tfforge.keras`` (fused custom ops;
need TensorFlow), ``tfforge.convert`` (freeze / convert / export; needs TensorFlow).
Importing ``tfforge`` itself imports no TensorFlow.
"""

__version__ = "0.1.0"


def __getattr__(name):
    # tfforge.optimize(src, dst, ...) without importing anything heavy when tfforge is imported
    if name == "optimize":
        from tfforge.optimizer import optimize
        return optimize
    raise AttributeError(f"module 'tfforge' has no attribute {name!r}")
