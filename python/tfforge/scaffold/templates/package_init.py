"""The {{Name}} TensorFlow op.

Importing this package loads its op library (checked against the running TensorFlow
first){{#grad}} and registers its gradient{{/grad}}, so a SavedModel using the op loads after ``import {{name}}``."""

from {{name}}.ops import {{name}}, reference
{{#keras}}
from {{name}}.layers import {{Name}}
{{/keras}}

__all__ = [{{#keras}}"{{Name}}", {{/keras}}"{{name}}", "reference"]
