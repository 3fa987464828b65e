"""Keras features the .keras fast path needs, checked once each.

Public API, checked because the fast path stands on them:
  deferred_build()   keras.StatelessScope(initialize_variables=...) and Model.stateless_call: a model
                     rebuilt from config.json without creating or initialising its variables, then traced
                     with its weights as inputs.
  own_variables()    Layer.save_own_variables(store): which variable each layer stores under which key
                     of its `vars` group in model.weights.h5.
Private, used only where the public API has no equivalent:
  object_sharing()   keras.src.saving.serialization_lib.ObjectSharingScope, needed only by configs that
                     hold `shared_object_id` entries (one object serialized in several places); Keras's
                     own load_model enters it around deserialization.

Tested with Keras 3.15 (pyproject pins keras>=3.15,<3.16).
"""

from __future__ import annotations

import contextlib
import functools
import inspect

from tfforge._compat import Feature, missing


def _keras():
    from tfforge._tf import keras
    return keras()


@functools.cache
def deferred_build() -> Feature:
    k = _keras()
    scope = getattr(k, "StatelessScope", None)
    if scope is None:
        return missing("keras.StatelessScope", "not in this Keras")
    try:
        params = inspect.signature(scope).parameters
    except (TypeError, ValueError) as exc:
        return missing("keras.StatelessScope(initialize_variables=)", f"signature unreadable: {exc}")
    if "initialize_variables" not in params:
        return missing("keras.StatelessScope(initialize_variables=)", "the argument is gone")
    if not callable(getattr(k.Model, "stateless_call", None)):
        return missing("keras.Model.stateless_call", "not in this Keras")
    return Feature("deferred build", True, value=scope)


@functools.cache
def own_variables() -> Feature:
    save = getattr(_keras().layers.Layer, "save_own_variables", None)
    if not callable(save):
        return missing("keras.layers.Layer.save_own_variables", "not in this Keras")
    try:
        params = list(inspect.signature(save).parameters)
    except (TypeError, ValueError) as exc:
        return missing("keras.layers.Layer.save_own_variables", f"signature unreadable: {exc}")
    if params != ["self", "store"]:
        return missing("keras.layers.Layer.save_own_variables", f"signature is ({', '.join(params)}), not (self, store)")
    return Feature("Layer.save_own_variables", True, value=save)


@functools.cache
def object_sharing() -> Feature:
    name = "keras.src.saving.serialization_lib.ObjectSharingScope"
    _keras()
    try:
        from keras.src.saving.serialization_lib import ObjectSharingScope
    except ImportError as exc:
        return missing(name, str(exc))
    if not (callable(ObjectSharingScope) and hasattr(ObjectSharingScope, "__enter__")
            and hasattr(ObjectSharingScope, "__exit__")):
        return missing(name, "no longer a context manager")
    try:
        inspect.signature(ObjectSharingScope).bind()
    except (TypeError, ValueError) as exc:
        return missing(name, f"takes arguments now: {exc}")
    return Feature(name, True, value=ObjectSharingScope)


def sharing_scope(config) -> contextlib.AbstractContextManager | None:
    """The scope to deserialize `config` in: Keras's object-sharing scope when the config shares objects,
    a null context when it does not; None when it shares objects and the scope is unavailable."""
    if not _shares_objects(config):
        return contextlib.nullcontext()
    feature = object_sharing()
    return feature.value() if feature else None


def _shares_objects(config) -> bool:
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "shared_object_id" in item:
                return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
