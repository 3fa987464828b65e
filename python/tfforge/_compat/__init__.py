"""Every use of a Keras or TensorFlow interface that is not public API lives here, behind a feature check.

Each check looks for the attribute or signature tfforge needs (not a version string), runs once per
process and returns a Feature: available, or the reason it is not. A caller whose feature is missing
takes its slower public path and logs one line saying why through `fallback()`, on the
"tfforge.compat" logger. pyproject.toml pins the Keras and TensorFlow ranges these checks were tested
with; tests/test_keras_compat.py fails when a fast path is not taken on those versions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger("tfforge.compat")


@dataclass(frozen=True)
class Feature:
    name: str
    available: bool
    reason: str = ""        # why it is missing (empty when available)
    value: object = None    # what the check found (a class or function), when available

    def __bool__(self) -> bool:
        return self.available


def missing(name: str, reason: str) -> Feature:
    return Feature(name, False, reason)


def fallback(feature_or_reason, slower: str) -> None:
    """The one log line of a fallback: what is missing (a Feature, or a reason) and the path taken instead."""
    if isinstance(feature_or_reason, Feature):
        why = f"{feature_or_reason.name} is unavailable ({feature_or_reason.reason})"
    else:
        why = str(feature_or_reason)
    log.warning("tfforge: %s; %s", why, slower)
