"""Reading TFRecord files of tf.train.Example rows into numpy columns, counting and verifying them."""

from __future__ import annotations

import glob as _glob
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from tfforge import _native
from tfforge.errors import SpecError, TfforgeError
from tfforge.records import _layout
from tfforge.records.ragged import Ragged
from tfforge.records.raw import compression_arg as _compression_arg
from tfforge.records.raw import path_arg
from tfforge.records.spec import _SHARD_RE, Feature, Spec, load, spec_path

_GLOB_CHARS = set("*?[")
SHARD_GLOB = "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].tfrecord*"
_SHARD_NAME = re.compile(r"^(?P<stem>.*)-(?P<i>\d{5})-of-(?P<n>\d{5})(?P<ext>\.tfrecord(?:\.gz|\.zz)?)?$")


def resolve_paths(paths_or_glob) -> list[str]:
    """Files from a path, a glob, a dataset prefix (its shards) or a list of those; sorted per pattern.

    A prefix or glob must give complete datasets: shards named ``-i-of-N`` must all be there, and of one
    N, or TfforgeError names what is missing (an interrupted write, a partial copy). Files listed one
    by one are taken as they are."""
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    out: list[str] = []
    for item in items:
        item = path_arg(item)
        if _GLOB_CHARS & set(item):
            found = sorted(_glob.glob(item))
            check_complete(found, item)
        elif os.path.isfile(item):
            found = [item]
        elif os.path.exists(item) and not os.path.isdir(item):
            raise TfforgeError("not a regular file (a FIFO, socket or device is not read)", path=item)
        else:
            found = _dataset_shards(item)
        if not found:
            raise TfforgeError("no TFRecord files match", path=item)
        out.extend(found)
    return out


def check_complete(paths: list[str], source: str) -> None:
    """Raises TfforgeError unless the ``-i-of-N`` shards among paths form whole sets, one N per name."""
    groups: dict[tuple, set] = {}
    for p in paths:
        m = _SHARD_NAME.match(p)
        if m:
            groups.setdefault((m["stem"], int(m["n"]), m["ext"] or ""), set()).add(int(m["i"]))
    counts: dict[str, list] = {}
    for (stem, n, ext), present in sorted(groups.items()):
        counts.setdefault(stem, []).append(f"-of-{n:05d}{ext}")
        missing = [i for i in range(n) if i not in present]
        if missing:
            names = ", ".join(f"{os.path.basename(stem)}-{i:05d}-of-{n:05d}{ext}" for i in missing[:4])
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            raise TfforgeError(f"incomplete dataset: {len(missing)} of {n} shards missing ({names}{more}); "
                               "an interrupted write or a partial copy? To read some shards only, list them "
                               "one by one", path=source)
    for stem, sets in counts.items():
        if len(sets) > 1:
            raise TfforgeError(f"shards of {len(sets)} datasets share the name {os.path.basename(stem)} "
                               f"({', '.join(sets)}); remove the stale set or name the files", path=source)


def _dataset_shards(prefix: str) -> list[str]:
    """A dataset's shards: those its spec file lists (so leftovers of an earlier run with another shard
    count are not mixed in), else every file named like a shard of the prefix, as one complete set."""
    spec_file = spec_path(prefix)
    if os.path.isfile(spec_file):
        shards = load(spec_file).metadata.get("shards")
        if shards:
            folder = os.path.dirname(prefix)
            paths = [os.path.join(folder, s) for s in shards]
            missing = [os.path.basename(p) for p in paths if not os.path.isfile(p)]
            if missing:
                more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
                raise TfforgeError(f"incomplete dataset: the spec file lists {len(paths)} shards, {len(missing)} "
                                   f"are missing ({', '.join(missing[:4])}{more})", path=spec_file)
            return paths
    found = sorted(_glob.glob(_glob.escape(prefix) + SHARD_GLOB))
    check_complete(found, prefix)
    return found


def infer_spec(path: str, records: int = 1024, compression="auto", *, verify: bool = True,
               skip_corrupt: bool = False) -> Spec:
    """A spec guessed from the first records of a file: a feature present in every row with the same
    number of values is fixed-length (a scalar if that number is 1), anything else variable length."""
    reader = _native.RecordReader(path, _compression_arg(compression), verify, skip_corrupt)
    rows = reader.scan(records)
    seen: dict[str, dict] = {}
    for row in rows:
        for name, kind, count in row:
            s = seen.setdefault(name, {"kinds": set(), "counts": set(), "rows": 0})
            if kind is not None:
                s["kinds"].add(kind)
            s["counts"].add(count)
            s["rows"] += 1
    features = {}
    for name, s in seen.items():
        if len(s["kinds"]) > 1:
            raise SpecError(f"feature '{name}' has several kinds ({', '.join(sorted(s['kinds']))}) in its first records", path=path)
        kind = s["kinds"].pop() if s["kinds"] else "bytes"
        fixed = s["rows"] == len(rows) and len(s["counts"]) == 1 and 0 not in s["counts"]
        shape = (() if next(iter(s["counts"])) == 1 else (next(iter(s["counts"])),)) if fixed else None
        features[name] = Feature(kind, shape)
    return Spec(features, {"inferred_from": os.path.basename(path)})


def find_spec(paths: list[str]) -> Spec | None:
    m = _SHARD_RE.match(paths[0])
    candidate = spec_path(m.group("prefix")) if m else None
    if candidate and os.path.isfile(candidate):
        return load(candidate)
    return None


def _column(values: np.ndarray, splits: np.ndarray, f: Feature, rows: int):
    if f.kind != "bytes" and f.dtype not in (None, values.dtype.name):
        values = values.astype(f.dtype)
    if f.varlen:
        return Ragged(values, splits)
    return values.reshape((rows,) + f.shape)


@dataclass
class ReadIterator(Iterator):
    """What read() returns: iterate it for batches; ``skipped`` lists what recovery mode skipped."""

    paths: list
    spec: Spec
    batch_size: int
    verify: bool
    skip_corrupt: bool
    compression: str
    features: list
    skipped: list = field(default_factory=list)
    records: int = 0
    strict: bool = True

    def __post_init__(self):
        self._plain = all(self.spec[n].plain for n in self.features)
        self._segments: list = []  # (first row in the batch, path, record index in that file)
        self._gen = self._generate()

    def __next__(self) -> dict:
        return next(self._gen)

    def _finish(self, decoder) -> dict:
        rows = decoder.rows
        out = decoder.finish()
        self.records += rows
        segments, self._segments = self._segments, []
        if not self._plain:
            return _layout.assemble(self.spec, self.features, out, rows, segments, self.strict)
        return {name: _column(v, s, self.spec[name], rows) for name, (v, s) in out.items()}

    def _generate(self):
        entries = (self.spec.to_native(self.features) if self._plain
                   else _layout.decoder_entries(self.spec, self.features))
        decoder = _native.ExampleDecoder(entries, self.strict)
        for path in self.paths:
            reader = _native.RecordReader(path, self.compression, self.verify, self.skip_corrupt)
            done = 0
            while True:
                want = self.batch_size - decoder.rows
                self._segments.append((decoder.rows, path, done))
                got = reader.decode(decoder, want)
                done += got
                if decoder.rows == self.batch_size:
                    yield self._finish(decoder)
                if got < want:
                    break
            if reader.skipped:
                self.skipped.extend(reader.skipped)
                warnings.warn(f"{path}: skipped {len(reader.skipped)} corrupt record(s) or region(s); "
                              "see .skipped of the iterator read() returned", stacklevel=2)
        if decoder.rows:
            yield self._finish(decoder)


def read(paths_or_glob, *, batch_size: int = 1024, spec=None, verify: bool = True, skip_corrupt: bool = False,
         compression="auto", features=None, strict: bool = True) -> ReadIterator:
    """Reads Examples as batches: an iterator of {name: column} dicts of up to ``batch_size`` rows.

    Fixed-length features come as numpy arrays of shape (rows, *shape) in the spec's dtype; bytes
    features as object arrays of bytes (str where the spec's dtype is "str"); variable-length features
    as ``Ragged`` (flat ``values`` + ``row_splits``; ``r[i]`` is row i, ``r.tolist()`` lists of values).
    Other tf.io feature types (see ``Feature``): ragged with partitions as nested ``Ragged``, varlen and
    sparse as ``SparseTriple``, fixed_sequence as arrays padded to the longest row (the batch's
    ``.lengths[name]`` gives the steps per row), SequenceExample feature lists included.

    ``strict`` (default) rejects what ``tf.io.parse_example`` rejects (a list of another kind, an
    empty list for a fixed-length feature, a map entry with its value given twice, ...) with an error
    naming the file, record, feature and byte offset; ``strict=False`` reads with protobuf's merge
    semantics instead.

    The spec comes from ``spec`` (Spec, dict or path), else the ``{prefix}.spec.json`` beside the
    shards, else it is inferred from the first file's first ``batch_size`` records. ``features``
    selects a subset. ``verify`` checks every record's data CRC. ``skip_corrupt`` skips damaged
    records instead of raising CorruptRecordError and lists them in ``.skipped`` of the iterator.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise SpecError(f"batch_size must be an integer of at least 1, not {batch_size!r}")
    if not isinstance(strict, bool):
        raise SpecError(f"strict must be True or False, not {strict!r}")
    paths = resolve_paths(paths_or_glob)
    comp = _compression_arg(compression)
    s = Spec.coerce(spec) or find_spec(paths) or infer_spec(paths[0], batch_size, comp, verify=verify,
                                                                           skip_corrupt=skip_corrupt)
    names = list(features) if features is not None else list(s)
    unknown = [n for n in names if n not in s]
    if unknown:
        raise SpecError(f"features {unknown} are not in the spec ({', '.join(s)})")
    return ReadIterator(paths, s, batch_size, verify, skip_corrupt, comp, names, strict=strict)


def count(paths_or_glob, *, compression="auto") -> int:
    """Number of records in the files (framing is followed; data CRCs are not checked)."""
    comp = _compression_arg(compression)
    return sum(_native.count_records(p, comp) for p in resolve_paths(paths_or_glob))


@dataclass
class VerifyReport:
    """Per-file records, bytes and every CRC / framing (/ Example) error with record and byte offset."""

    files: list

    @property
    def records(self) -> int:
        return sum(f["records"] for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in self.files)

    @property
    def errors(self) -> list:
        return [e for f in self.files for e in f["errors"]]

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self):
        lines = [f"{len(self.files)} file(s), {self.records} records, {self.bytes} bytes, "
                 f"{len(self.errors)} error(s)"]
        for e in self.errors:
            lines.append(f"{e['path']}: record {e['record']}, byte offset {e['offset']}: {e['reason']}")
        return "\n".join(lines)


def verify(paths_or_glob, *, examples: bool = False, compression="auto", max_record_bytes: int = 1 << 31) -> VerifyReport:
    """Checks every record's framing and CRCs (and with examples=True that each parses as an Example).

    Without examples, record data streams through a small buffer (memory does not grow with record
    sizes); with examples each record is held to be parsed, and a length beyond max_record_bytes is
    reported as an error instead of being read."""
    comp = _compression_arg(compression)
    return VerifyReport([_native.verify_file(p, comp, examples, max_record_bytes) for p in resolve_paths(paths_or_glob)])


def head(path, n: int = 5, *, compression="auto") -> list[dict]:
    """The first n records of a file as {name: (kind, [values])} (no spec needed). Feature names that
    are not UTF-8 come back with their bytes kept as lone surrogates (errors="surrogateescape")."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 1 << 63:
        raise SpecError(f"n must be a non-negative 64-bit integer, not {n!r}")
    reader = _native.RecordReader(path_arg(path), _compression_arg(compression))
    return reader.parse(n)
