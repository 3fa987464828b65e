"""Feature specs: what each feature of a TFRecord dataset holds and how to decode it.

A spec is saved as JSON beside the shards (``{prefix}.spec.json``)::

    {"format": "tfforge.records.spec/1",
     "features": {"label": {"kind": "int64", "shape": [], "dtype": "int64"},
                  "tokens": {"kind": "int64", "shape": null, "dtype": "int32"}},
     ...metadata (records, shards, compression, classes)...}

``kind`` is the Example list type (int64 / float / bytes), ``shape`` the fixed shape of one row's
values (``[]`` a scalar) or ``null`` for variable length, ``dtype`` the numpy dtype read() returns
("bytes" and "str" for bytes features).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from tfforge.errors import SpecError

FORMAT = "tfforge.records.spec/1"
KINDS = ("int64", "float", "bytes")
_SHARD_RE = re.compile(r"^(?P<prefix>.*)-\d{5}-of-\d{5}\.tfrecord(\.gz|\.zz)?$")


@dataclass(frozen=True)
class Feature:
    """One feature: its Example list kind, fixed shape (None: variable length) and decode dtype."""

    kind: str
    shape: tuple | None = ()
    dtype: str | None = None
    default: tuple | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SpecError(f"unknown feature kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(int(d) for d in self.shape))
        if self.dtype is None:
            object.__setattr__(self, "dtype", {"int64": "int64", "float": "float32", "bytes": "bytes"}[self.kind])
        if self.default is not None:
            object.__setattr__(self, "default", tuple(self.default))

    @property
    def varlen(self) -> bool:
        return self.shape is None

    @property
    def count(self) -> int:
        """Values per row, or -1 for variable length."""
        return -1 if self.shape is None else math.prod(self.shape)

    def to_json(self) -> dict:
        out = {"kind": self.kind, "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype}
        if self.default is not None:
            out["default"] = [v.decode("latin-1") if isinstance(v, bytes) else v for v in self.default]
        return out

    @classmethod
    def from_json(cls, name: str, d) -> "Feature":
        if isinstance(d, Feature):
            return d
        if not isinstance(d, Mapping) or "kind" not in d:
            raise SpecError(f"feature '{name}': expected an object with a 'kind', got {d!r}")
        return cls(kind=d["kind"], shape=d.get("shape", ()), dtype=d.get("dtype"), default=d.get("default"))


@dataclass
class Spec(Mapping):
    """The features of a dataset (name -> Feature), in column order, plus metadata."""

    features: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)

    def __getitem__(self, name):
        return self.features[name]

    def __iter__(self):
        return iter(self.features)

    def __len__(self):
        return len(self.features)

    @property
    def classes(self) -> list | None:
        """The class-name table of an image-folder dataset (label i is classes[i])."""
        return self.metadata.get("classes")

    def to_json(self) -> dict:
        return {"format": FORMAT, "features": {k: f.to_json() for k, f in self.features.items()}, **self.metadata}

    @classmethod
    def from_json(cls, d: Mapping, source: str = "spec") -> "Spec":
        if not isinstance(d, Mapping) or not isinstance(d.get("features"), Mapping):
            raise SpecError(f"{source}: not a tfforge spec (no 'features' object)")
        features = {str(k): Feature.from_json(k, v) for k, v in d["features"].items()}
        meta = {k: v for k, v in d.items() if k not in ("format", "features")}
        return cls(features, meta)

    @classmethod
    def coerce(cls, spec) -> "Spec":
        """A Spec from a Spec, a {name: Feature or dict} mapping, or a path to a spec JSON file."""
        if spec is None or isinstance(spec, Spec):
            return spec
        if isinstance(spec, (str, os.PathLike)):
            return load(spec)
        if isinstance(spec, Mapping):
            if "features" in spec and isinstance(spec["features"], Mapping):
                return cls.from_json(spec)
            return cls({str(k): Feature.from_json(k, v) for k, v in spec.items()})
        raise SpecError(f"cannot use a {type(spec).__name__} as a spec")

    def save(self, path: str) -> str:
        from tfforge._io import write_text
        write_text(path, json.dumps(self.to_json(), indent=2) + "\n")
        return path

    def to_native(self, names=None) -> list:
        """The decoder's view: (name, kind, count, default, as_str) per feature."""
        out = []
        for name in names or self.features:
            f = self.features[name]
            out.append((name, f.kind, f.count, None if f.default is None else list(f.default), f.dtype == "str"))
        return out

    def to_tf(self, varlen: str = "ragged") -> dict:
        """The ``tf.io.parse_example`` features dict: FixedLenFeature for fixed shapes, RaggedFeature
        (varlen="ragged") or VarLenFeature (varlen="sparse") for variable-length ones."""
        from tfforge._tf import import_tensorflow

        tf = import_tensorflow()
        tf_dtype = {"int64": tf.int64, "float": tf.float32, "bytes": tf.string}
        out = {}
        for name, f in self.features.items():
            dt = tf_dtype[f.kind]
            if f.varlen:
                out[name] = tf.io.RaggedFeature(dt) if varlen == "ragged" else tf.io.VarLenFeature(dt)
            else:
                default = None if f.default is None else list(f.default)
                out[name] = tf.io.FixedLenFeature(list(f.shape), dt, default_value=default)
        return out

    def __repr__(self):
        feats = ", ".join(f"{k}: {f.kind}{'[var]' if f.varlen else list(f.shape)}->{f.dtype}" for k, f in self.features.items())
        return f"Spec({feats})"


def spec_path(prefix: str) -> str:
    """The spec file of a dataset, from its prefix, a shard path or the spec path itself."""
    prefix = os.fspath(prefix)
    if prefix.endswith(".spec.json"):
        return prefix
    m = _SHARD_RE.match(prefix)
    return f"{m.group('prefix') if m else prefix}.spec.json"


def load(path: str) -> Spec:
    path = spec_path(path)
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise SpecError("no spec file", path=path) from None
    except json.JSONDecodeError as exc:
        raise SpecError(f"spec file is not valid JSON: {exc.msg}", path=path, offset=exc.pos) from None
    return Spec.from_json(data, source=path)


def spec(prefix: str) -> Spec:
    """The spec written beside a dataset: ``spec("out/train")`` reads ``out/train.spec.json``."""
    return load(prefix)


def merge(a: Feature, b: Feature, name: str) -> Feature:
    """One feature seen in two batches: kinds must agree; differing shapes become variable length."""
    if a.kind != b.kind:
        raise SpecError(f"feature '{name}' is {a.kind} in one batch and {b.kind} in another")
    if a == b:
        return a
    shape = a.shape if a.shape == b.shape else None
    dtype = a.dtype if a.dtype == b.dtype else {"int64": "int64", "float": "float32", "bytes": "bytes"}[a.kind]
    return Feature(a.kind, shape, dtype, a.default if a.default == b.default else None)
