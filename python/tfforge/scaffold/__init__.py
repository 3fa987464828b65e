"""`tfforge new-op`: writes a standalone project for one TensorFlow custom op, built with pip against the
installed TensorFlow through tfforge's CMake package, tested with tfforge.testing, benchmarked with
`tfforge bench op`. The templates are in templates/; :func:`write_project` fills them in."""

from tfforge.scaffold.project import FILES, OpName, render, write_project

__all__ = ["FILES", "OpName", "render", "write_project"]
