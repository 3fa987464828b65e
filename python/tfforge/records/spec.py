"""Feature specs: what each feature of a TFRecord dataset holds and how to decode it.

A spec is saved as JSON beside the shards (``{prefix}.spec.json``)::

    {"format": "tfforge.records.spec/1",
     "features": {"label": {"kind": "int64", "shape": [], "dtype": "int64"},
                  "tokens": {"kind": "int64", "shape": null, "dtype": "int32"}},
     ...metadata (records, shards, compression, classes)...}

``kind`` is the Example list type (int64 / float / bytes), ``shape`` the fixed shape of one row's
values (``[]`` a scalar) or ``null`` for variable length, ``dtype`` the numpy dtype read() returns
("bytes" and "str" for bytes features).

``type`` says which ``tf.io`` feature it is (left out when it follows from the shape):
``fixed`` (FixedLenFeature, ``default``), ``ragged`` (RaggedFeature: ``value_key``, ``partitions`` as
``[[kind, key or length], ...]`` outermost first, ``row_splits_dtype``, ``validate``), ``varlen``
(VarLenFeature, read as a sparse triple), ``sparse`` (SparseFeature: ``index_key``, ``value_key``,
``size``, ``already_sorted``) and ``fixed_sequence`` (FixedLenSequenceFeature: ``shape`` of one step,
``allow_missing``, ``default`` the padding value). ``"sequence": true`` puts a feature in a
SequenceExample's feature_lists instead of its context.
"""

from __future__ import annotations

import json
import math
import operator
import os
import numbers
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from tfforge.errors import SpecError

FORMAT = "tfforge.records.spec/1"
KINDS = ("int64", "float", "bytes")
TYPES = ("fixed", "varlen", "ragged", "sparse", "fixed_sequence")
PARTITIONS = ("row_splits", "row_lengths", "row_starts", "row_limits", "value_rowids", "uniform_row_length")
_SHARD_RE = re.compile(r"^(?P<prefix>.*)-\d{5}-of-\d{5}\.tfrecord(\.gz|\.zz)?$")


def _ints(v, what: str) -> tuple:
    try:
        items = (v,) if isinstance(v, numbers.Integral) else tuple(v)  # numpy ints are Integral
        return tuple(operator.index(d) for d in items)
    except TypeError:
        raise SpecError(f"{what} must be an int or a list of ints, got {v!r}") from None


@dataclass(frozen=True)
class Feature:
    """One feature: its Example list kind, fixed shape (None: variable length), decode dtype and the
    tf.io feature type it stands for (see the module docstring)."""

    kind: str
    shape: tuple | None = ()
    dtype: str | None = None
    default: tuple | None = None
    type: str | None = None
    sequence: bool = False
    value_key: str | None = None
    partitions: tuple = ()
    row_splits_dtype: str = "int64"
    validate: bool = False
    index_key: tuple | None = None
    size: tuple | None = None
    already_sorted: bool = False
    allow_missing: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise SpecError(f"unknown feature kind {self.kind!r} (expected one of {', '.join(KINDS)})")
        if self.type is None:
            object.__setattr__(self, "type", "ragged" if self.shape is None else "fixed")
        if self.type not in TYPES:
            raise SpecError(f"unknown feature type {self.type!r} (expected one of {', '.join(TYPES)})")
        if self.type in ("fixed", "fixed_sequence"):
            if self.shape is None:
                raise SpecError(f"a {self.type} feature needs a shape")
            shape = _ints(self.shape, "shape")
            low = 1 if self.type == "fixed_sequence" else 0
            if any(d < low for d in shape):
                raise SpecError(f"shape {list(shape)}: dimensions must be {'positive' if low else 'at least 0'}")
            object.__setattr__(self, "shape", shape)
        else:
            object.__setattr__(self, "shape", None)
        if self.dtype is None:
            object.__setattr__(self, "dtype", {"int64": "int64", "float": "float32", "bytes": "bytes"}[self.kind])
        if self.default is not None:
            d = self.default
            np = sys.modules.get("numpy")  # an array can only come from a process that imported numpy
            if np is not None and isinstance(d, np.ndarray):
                items = tuple(d.reshape(-1).tolist())
            else:
                items = tuple(d) if isinstance(d, (list, tuple)) else (d,)
            if self.kind == "bytes" and self.dtype != "str":  # text defaults as TensorFlow stores them
                items = tuple(v.encode() if isinstance(v, str) else v for v in items)
            object.__setattr__(self, "default", items)
        if self.type == "fixed_sequence" and self.default is not None and len(self.default) != 1:
            raise SpecError(f"a fixed_sequence feature's default is one padding value, not {len(self.default)}")
        if self.type == "fixed" and self.sequence:
            raise SpecError("a fixed (FixedLenFeature) feature cannot be a sequence feature; "
                            "use type fixed_sequence")
        if self.type == "sparse":
            if self.sequence:
                raise SpecError("a sparse (SparseFeature) feature cannot be a sequence feature")
            if self.index_key is None or self.value_key is None or self.size is None:
                raise SpecError("a sparse feature needs index_key, value_key and size")
            keys = (self.index_key,) if isinstance(self.index_key, str) else tuple(self.index_key)
            if not keys or not all(isinstance(k, str) for k in keys):
                raise SpecError(f"index_key must be a name or a list of names, got {self.index_key!r}")
            size = _ints(self.size, "size")
            if len(size) != len(keys) or any(d < 0 for d in size):
                raise SpecError(f"size {list(size)} must give one non-negative size per index key {list(keys)}")
            object.__setattr__(self, "index_key", keys)
            object.__setattr__(self, "size", size)
        if self.partitions:
            if self.type != "ragged":
                raise SpecError("only ragged features have partitions")
            parts = []
            for p in self.partitions:
                if not isinstance(p, (list, tuple)) or len(p) != 2 or p[0] not in PARTITIONS:
                    raise SpecError(f"a partition is [kind, key or length] with kind one of {', '.join(PARTITIONS)}; "
                                    f"got {p!r}")
                if p[0] == "uniform_row_length":
                    n = _ints(p[1], "uniform_row_length")
                    if len(n) != 1 or n[0] < 0:
                        raise SpecError(f"uniform_row_length must be a non-negative int, got {p[1]!r}")
                    parts.append((p[0], n[0]))
                elif not isinstance(p[1], str):
                    raise SpecError(f"partition {p[0]} needs a feature key, got {p[1]!r}")
                else:
                    parts.append((p[0], p[1]))
            object.__setattr__(self, "partitions", tuple(parts))
        if self.row_splits_dtype not in ("int32", "int64"):
            raise SpecError(f"row_splits_dtype must be int32 or int64, got {self.row_splits_dtype!r}")

    @property
    def varlen(self) -> bool:
        return self.shape is None

    @property
    def count(self) -> int:
        """Values per row (per step for fixed_sequence), or -1 for variable length."""
        return -1 if self.shape is None else math.prod(self.shape)

    @property
    def plain(self) -> bool:
        """A FixedLenFeature, or a RaggedFeature of the feature's own key without partitions, in the
        context: one Example feature, read as an array or a one-level Ragged."""
        return not self.sequence and (self.type == "fixed" or (
            self.type == "ragged" and not self.partitions and self.value_key is None))

    def to_json(self) -> dict:
        out = {"kind": self.kind, "shape": None if self.shape is None else list(self.shape), "dtype": self.dtype}
        if self.default is not None:
            out["default"] = [v.decode("latin-1") if isinstance(v, bytes) else v for v in self.default]
        if self.type != ("ragged" if self.shape is None else "fixed"):
            out["type"] = self.type
        if self.sequence:
            out["sequence"] = True
        if self.value_key is not None:
            out["value_key"] = self.value_key
        if self.partitions:
            out["partitions"] = [list(p) for p in self.partitions]
        if self.row_splits_dtype != "int64":
            out["row_splits_dtype"] = self.row_splits_dtype
        for name in ("validate", "already_sorted", "allow_missing"):
            if getattr(self, name):
                out[name] = True
        if self.index_key is not None:
            out["index_key"] = list(self.index_key)
            out["size"] = list(self.size)
        return out

    @classmethod
    def from_json(cls, name: str, d) -> "Feature":
        if isinstance(d, Feature):
            return d
        if not isinstance(d, Mapping) or "kind" not in d:
            raise SpecError(f"feature '{name}': expected an object with a 'kind', got {d!r}")
        known = {f.name for f in fields(cls)}
        args = {k: v for k, v in d.items() if k in known}  # other keys (notes of other tools) are ignored
        args.setdefault("shape", ())
        if args.get("default") is not None and args["kind"] == "bytes" and args.get("dtype") != "str":
            args["default"] = [v.encode("latin-1") if isinstance(v, str) else v for v in args["default"]]
        try:
            return cls(**args)
        except SpecError as exc:
            raise SpecError(f"feature '{name}': {exc.message}") from None

    def to_tf(self, name: str, varlen: str = "ragged"):
        """The tf.io feature this stands for (imports TensorFlow)."""
        from tfforge._tf import import_tensorflow

        tf = import_tensorflow()
        dt = {"int64": tf.int64, "float": tf.float32, "bytes": tf.string}[self.kind]
        default = None if self.default is None else list(self.default)
        if self.type == "fixed":
            if default is not None and self.shape == ():
                default = default[0]
            return tf.io.FixedLenFeature(list(self.shape), dt, default_value=default)
        if self.type == "fixed_sequence":
            return tf.io.FixedLenSequenceFeature(list(self.shape), dt, allow_missing=self.allow_missing,
                                                 default_value=None if default is None else default[0])
        if self.type == "varlen" or (self.plain and varlen == "sparse"):
            return tf.io.VarLenFeature(dt)
        if self.type == "sparse":
            return tf.io.SparseFeature(list(self.index_key), self.value_key, dt, list(self.size), self.already_sorted)
        make = {"row_splits": tf.io.RaggedFeature.RowSplits, "row_lengths": tf.io.RaggedFeature.RowLengths,
                "row_starts": tf.io.RaggedFeature.RowStarts, "row_limits": tf.io.RaggedFeature.RowLimits,
                "value_rowids": tf.io.RaggedFeature.ValueRowIds,
                "uniform_row_length": tf.io.RaggedFeature.UniformRowLength}
        return tf.io.RaggedFeature(dt, value_key=self.value_key or name,
                                   partitions=[make[k](v) for k, v in self.partitions],
                                   row_splits_dtype=getattr(tf, self.row_splits_dtype), validate=self.validate)

    @classmethod
    def from_tf(cls, f, sequence: bool = False) -> "Feature":
        """The Feature for a tf.io feature (FixedLenFeature, VarLenFeature, SparseFeature,
        FixedLenSequenceFeature, RaggedFeature)."""
        kind = {"int64": "int64", "float32": "float", "string": "bytes"}.get(f.dtype.name)
        if kind is None:
            raise SpecError(f"tf.io features hold int64, float32 or string values, not {f.dtype.name}")
        kind_of = type(f).__name__
        import numpy as np
        if kind_of == "FixedLenFeature":
            d = f.default_value
            return cls(kind, f.shape, type="fixed", sequence=sequence,
                       default=None if d is None else np.asarray(d).reshape(-1).tolist())
        if kind_of == "FixedLenSequenceFeature":
            d = f.default_value
            return cls(kind, f.shape, type="fixed_sequence", sequence=sequence,
                       allow_missing=f.allow_missing, default=None if d is None else np.asarray(d).reshape(-1).tolist())
        if kind_of == "VarLenFeature":
            return cls(kind, None, type="varlen", sequence=sequence)
        if kind_of == "SparseFeature":
            return cls(kind, None, type="sparse", index_key=f.index_key, value_key=f.value_key, size=f.size,
                       already_sorted=f.already_sorted)
        if kind_of == "RaggedFeature":
            names = {"RowSplits": "row_splits", "RowLengths": "row_lengths", "RowStarts": "row_starts",
                     "RowLimits": "row_limits", "ValueRowIds": "value_rowids", "UniformRowLength": "uniform_row_length"}
            parts = [(names[type(p).__name__], p.length if type(p).__name__ == "UniformRowLength" else p.key)
                     for p in f.partitions]
            return cls(kind, None, type="ragged", sequence=sequence, value_key=f.value_key, partitions=tuple(parts),
                       row_splits_dtype=f.row_splits_dtype.name, validate=f.validate)
        raise SpecError(f"not a tf.io feature: {f!r}")


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
        """The decoder's view: (name, kind, count, default, as_str) per plain feature."""
        out = []
        for name in names or self.features:
            f = self.features[name]
            out.append((name, f.kind, f.count, None if f.default is None else list(f.default), f.dtype == "str"))
        return out

    @property
    def has_sequence(self) -> bool:
        return any(f.sequence for f in self.features.values())

    def to_tf(self, varlen: str = "ragged") -> dict:
        """The ``tf.io.parse_example`` features dict: FixedLenFeature for fixed shapes, RaggedFeature
        (varlen="ragged") or VarLenFeature (varlen="sparse") for plain variable-length ones, and each
        other feature's own type. A spec with sequence features gives
        ``{"context_features": {...}, "sequence_features": {...}}`` for ``tf.io.parse_sequence_example``."""
        out = {name: f.to_tf(name, varlen) for name, f in self.features.items()}
        if not self.has_sequence:
            return out
        return {"context_features": {k: v for k, v in out.items() if not self.features[k].sequence},
                "sequence_features": {k: v for k, v in out.items() if self.features[k].sequence}}

    @classmethod
    def from_tf(cls, features: Mapping | None = None, *, context_features: Mapping | None = None,
                sequence_features: Mapping | None = None) -> "Spec":
        """A Spec from ``tf.io`` feature dicts: ``features`` (parse_example) or ``context_features`` and
        ``sequence_features`` (parse_sequence_example)."""
        out = {}
        for group, seq in ((features, False), (context_features, False), (sequence_features, True)):
            for name, f in (group or {}).items():
                if name in out:
                    raise SpecError(f"feature '{name}' is given twice")
                out[str(name)] = Feature.from_tf(f, seq)
        return cls(out)

    def __repr__(self):
        feats = ", ".join(f"{k}: {f.kind}{'[var]' if f.varlen else list(f.shape)}->{f.dtype}"
                          f"{'' if f.plain else ' ' + f.type}{' seq' if f.sequence else ''}"
                          for k, f in self.features.items())
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
    if not (a.plain and b.plain):
        if a.type == b.type == "fixed_sequence" and a.sequence == b.sequence:
            return Feature(a.kind, None, a.dtype, type="ragged", sequence=a.sequence)
        raise SpecError(f"feature '{name}' is {a.type} in one batch and {b.type} in another")
    shape = a.shape if a.shape == b.shape else None
    dtype = a.dtype if a.dtype == b.dtype else {"int64": "int64", "float": "float32", "bytes": "bytes"}[a.kind]
    return Feature(a.kind, shape, dtype, a.default if a.default == b.default else None)
