"""Writing TFRecord files of tf.train.Example rows: ``write`` (whole datasets, sharded) and ``Writer``
(one file, streaming). Encoding, CRCs and compression run natively on worker threads."""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable, Mapping


from tfforge import _native
from tfforge._console import Progress
from tfforge.errors import ClosedError, SpecError
from tfforge.records import _columns, _commit
from tfforge.records.raw import path_arg
from tfforge.records.spec import Feature, Spec, merge

_EXTENSION = {"none": "", "gzip": ".gz", "zlib": ".zz"}


def normalize_compression(compression) -> str:
    if compression is not None and not isinstance(compression, str):
        raise SpecError(f"compression must be None or a string (none, gzip or zlib), not {compression!r}")
    c = (compression or "none").lower()
    aliases = {"": "none", "gz": "gzip", "zz": "zlib"}
    c = aliases.get(c, c)
    if c not in _EXTENSION:
        raise SpecError(f"unknown compression {compression!r} (expected none, gzip or zlib)")
    return c


def _int_arg(name: str, value, minimum: int, maximum: int | None = None) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum or (
            maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise SpecError(f"{name} must be an integer {bound}, not {value!r}")
    return int(value)


def shard_name(prefix: str, index: int, count: int, compression=None) -> str:
    return f"{prefix}-{index:05d}-of-{count:05d}.tfrecord{_EXTENSION[normalize_compression(compression)]}"


def _workers(workers) -> int:
    return 0 if workers is None else _int_arg("workers", workers, 1, 1024)


class _SpecBuilder:
    """The spec of everything written so far: per-batch features merged (shapes that differ between
    batches become variable length; a column that had no values at all takes the kind seen later)."""

    def __init__(self, given: Spec | None):
        self.given = given
        self.features: dict[str, Feature] = {}
        self.untyped: set[str] = set()  # names seen only without values so far

    def add(self, features: Mapping, untyped=()):
        if self.given is not None:
            return
        if self.features and set(features) != set(self.features):
            raise SpecError(f"batches have different columns: {sorted(self.features)} then {sorted(features)}")
        for name, f in features.items():
            if name not in self.features:
                self.features[name] = f
                if name in untyped:
                    self.untyped.add(name)
            elif name in untyped:
                self.features[name] = Feature(self.features[name].kind, None, self.features[name].dtype)
            elif name in self.untyped:
                self.features[name] = Feature(f.kind, None, f.dtype)
                self.untyped.discard(name)
            else:
                self.features[name] = merge(self.features[name], f, name)

    def spec(self, metadata: dict) -> Spec:
        if self.given is not None:
            return Spec(dict(self.given.features), {**self.given.metadata, **metadata})
        return Spec(dict(self.features), metadata)


class Writer:
    """One TFRecord file, written batch by batch (or Example by Example) and committed on close.

        with records.Writer("out.tfrecord.gz", compression="gzip") as w:
            w.write({"label": labels, "image": images})
            w.write_example({"label": 3, "image": b"..."})

    The file appears under its name only when the block exits without an exception; until then it is
    a hidden temporary file, removed if anything fails. ``atomic=False`` writes under the final name
    from the start instead, as tf.io.TFRecordWriter does, so another process can follow the file
    (``flush()`` makes what was written readable). ``w.spec`` describes what was written. Use after
    ``close()`` raises ClosedError; ``close()`` twice is fine.
    """

    def __init__(self, path, compression=None, *, spec=None, workers=None, level: int = -1, atomic: bool = True,
                 sequence=()):
        self.path = path_arg(path)
        self._sequence = _sequence_names(sequence)
        self.compression = normalize_compression(compression)
        level = _int_arg("level", level, -1, 9)
        if not isinstance(atomic, bool):
            raise SpecError(f"atomic must be True or False, not {atomic!r}")
        self._given = Spec.coerce(spec)
        self._spec = _SpecBuilder(self._given)
        self._workers = _workers(workers)
        self._file = _native.FileWriter(self.path, "" if self.compression == "none" else self.compression, level,
                                        atomic)

    def _check_open(self):
        if not self._file.open:
            raise ClosedError("the writer is closed", path=self.path)

    def write(self, batch) -> int:
        """Appends a batch (dict of columns, DataFrame or Table); returns the number of rows written."""
        self._check_open()
        prepared = _columns.prepare(batch, self._given, self._sequence)
        self._spec.add(prepared.features, prepared.untyped)
        _native.write_batch(prepared.native, [(self._file, 0, prepared.rows)], self._workers)
        return prepared.rows

    def write_example(self, example: Mapping) -> None:
        """Appends one Example given as {name: value}: a number, bytes/str, or a list/array of them."""
        self._check_open()
        self.write(_columns.example_batch(example))

    def write_serialized(self, record: bytes) -> None:
        """Appends one already serialized record as it is (framed and checksummed here)."""
        self._check_open()
        self._file.write_record(record)

    def flush(self) -> None:
        """Hands what was written to the operating system (a compressed stream ends its current block), so
        a reader of an ``atomic=False`` file sees every record written so far."""
        self._check_open()
        self._file.flush()

    @property
    def records(self) -> int:
        return self._file.records

    @property
    def bytes_written(self) -> int:
        return self._file.file_bytes

    @property
    def spec(self) -> Spec:
        return self._spec.spec({"records": self.records, "compression": self.compression})

    def close(self) -> None:
        if self._file.open:
            self._file.commit()

    def abort(self) -> None:
        self._file.abort()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _sequence_names(sequence) -> tuple:
    """Names of columns to write as SequenceExample feature lists (when no spec says so)."""
    if isinstance(sequence, str):
        sequence = [s for s in sequence.split(",") if s]
    try:
        names = tuple(sequence or ())
    except TypeError:
        raise SpecError(f"sequence must be a list of column names, not {sequence!r}") from None
    if not all(isinstance(n, str) for n in names):
        raise SpecError(f"sequence must be a list of column names, not {sequence!r}")
    return names


def _batches(data) -> Iterable:
    if _columns.is_batch(data):
        return [data]
    if isinstance(data, (str, bytes, os.PathLike)):
        raise SpecError("write() takes data, not a path; use records.convert(path, prefix) for files")
    if isinstance(data, Iterable):
        return data
    raise SpecError(f"cannot write a {type(data).__name__}: expected a dict of columns, a DataFrame, "
                    "a pyarrow Table or an iterable of them")


def _split(rows: int, parts: int) -> list[tuple[int, int]]:
    return [(rows * i // parts, rows * (i + 1) // parts) for i in range(parts)]


def write(data, prefix, *, shards: int = 1, compression=None, spec=None, workers=None, progress: bool = True,
          records_per_shard: int | None = None, level: int = -1, metadata: dict | None = None,
          total: int | None = None, sequence=()) -> list[str]:
    """Writes ``data`` as TFRecord shards ``{prefix}-00000-of-0000N.tfrecord[.gz|.zz]`` and the spec
    ``{prefix}.spec.json``; returns the shard paths.

    data: a dict of columns (numpy 1-D for scalars, N-D for fixed shapes, sequences of arrays / bytes
    or ``Ragged`` for variable length), a pandas DataFrame, a pyarrow Table, or an iterable of those
    (batches, for data larger than memory).

    shards: every batch is split evenly over the shards, which are written concurrently, so output is
    the same for the same input and shard count. records_per_shard instead fills shards one after
    another (the count comes out of the data). workers: threads for encoding/compression (default:
    all cores). metadata goes into the spec file; total (rows, when known) feeds the progress bar.
    sequence: names of columns (lists of per-step values per row) to write as SequenceExample feature
    lists when no spec is given.

    The dataset appears only complete: every shard and the spec are written under hidden temporary
    names, and committed at the end, replacing any earlier dataset at the prefix wholly (shards of
    another count included). An exception, Ctrl-C or SIGTERM removes what was written; temporary files
    that a killed run left are removed by the next write to the same prefix.
    """
    prefix = path_arg(prefix)
    compression = normalize_compression(compression)
    given = Spec.coerce(spec)
    seq_names = _sequence_names(sequence)
    shards = _int_arg("shards", shards, 1, 99999)  # shard names number them with five digits
    if records_per_shard is not None:
        records_per_shard = _int_arg("records_per_shard", records_per_shard, 1, (1 << 63) - 1)
    level = _int_arg("level", level, -1, 9)
    if not os.path.basename(prefix):
        raise SpecError(f"the prefix must end in a dataset name (e.g. out/train), not {prefix!r}")
    _commit.make_folder(os.path.dirname(prefix) or ".")
    _commit.remove_stale_temps(prefix)
    zname = "" if compression == "none" else compression
    builder = _SpecBuilder(given)
    nworkers = _workers(workers)
    files: list = []
    total_rows = total
    if _columns.is_batch(data):
        total_rows = len(next(iter(_columns._columns_of(data).values()), []))
    bar = Progress(f"write {os.path.basename(prefix)}", total=total_rows, enabled=progress)
    with _commit.terminate_as_exit():
        try:
            if records_per_shard is None:
                files = [_native.FileWriter(shard_name(prefix, i, shards, compression), zname, level)
                         for i in range(shards)]
            current = 0  # records in the last file (records_per_shard mode)
            for batch in _batches(data):
                prepared = _columns.prepare(batch, given, seq_names)
                builder.add(prepared.features, prepared.untyped)
                before = sum(f.raw_bytes for f in files)
                if records_per_shard is None:
                    targets = [(f, b, e) for f, (b, e) in zip(files, _split(prepared.rows, shards)) if e > b]
                else:
                    targets, row = [], 0
                    while row < prepared.rows:
                        if not files or current == records_per_shard:
                            files.append(_native.FileWriter(f"{prefix}-{len(files):05d}.partial", zname, level))
                            current = 0
                        take = min(records_per_shard - current, prepared.rows - row)
                        targets.append((files[-1], row, row + take))
                        row += take
                        current += take
                _native.write_batch(prepared.native, targets, nworkers)
                bar.update(prepared.rows, sum(f.raw_bytes for f in files) - before)
            if not files:  # records_per_shard with no data: one empty shard, so the dataset exists
                files.append(_native.FileWriter(f"{prefix}-00000.partial", zname, level))
            n = len(files)
            paths = [shard_name(prefix, i, n, compression) for i in range(n)]
            for f in files:
                f.finish()
            meta = {"records": sum(f.records for f in files), "shards": [os.path.basename(p) for p in paths],
                    "compression": compression, **(metadata or {})}
            _commit.commit_dataset(prefix, files, paths, builder.spec(meta).to_json())
        except BaseException:
            for f in files:
                f.abort()
            raise
        finally:
            bar.close()
    return paths
