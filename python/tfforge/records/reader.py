"""Reading TFRecord files of tf.train.Example rows into numpy columns, counting and verifying them."""

from __future__ import annotations

import os
import queue
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from tfforge import _native
from tfforge.errors import SpecError
from tfforge.records import _layout
from tfforge.records.ragged import Ragged
from tfforge.records.raw import compression_arg as _compression_arg
from tfforge.records.raw import path_arg
from tfforge.records.files import (  # noqa: F401  (re-exported: the numpy-free part of the reader)
    SHARD_GLOB, VerifyReport, check_complete, count, default_workers, resolve_paths, verify, workers_arg)
from tfforge.records.spec import _SHARD_RE, Feature, Spec, load, spec_path

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
    workers: int = 1
    ordered: bool = True
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
        segments, self._segments = self._segments, []
        return self._columns(out, rows, segments)

    def _columns(self, out, rows: int, segments: list) -> dict:
        self.records += rows
        if not self._plain:
            return _layout.assemble(self.spec, self.features, out, rows, segments, self.strict)
        return {name: _column(v, s, self.spec[name], rows) for name, (v, s) in out.items()}

    def _entries(self):
        return (self.spec.to_native(self.features) if self._plain
                else _layout.decoder_entries(self.spec, self.features))

    def _decoder(self):
        return _native.ExampleDecoder(self._entries(), self.strict)

    def _generate(self):
        _native.keep_freed_memory()  # see cc/python/bind_records_pipeline.cc
        if self.workers > 1 and not self.ordered and len(self.paths) > 1:
            yield from self._generate_unordered()
        elif self.workers > 1 and not self.skip_corrupt:
            yield from self._generate_pipelined()
        else:
            yield from self._generate_sequential()

    def _generate_pipelined(self):
        """Whole batches decoded on the workers, ahead of the caller, taken in order
        (cc/record/batch_pipeline.h): the same batches as one worker gives."""
        pipe = _native.BatchPipeline(self.paths, self.compression, self.verify, self._entries(), self.strict,
                                     self.batch_size, self.workers)
        while (got := pipe.next()) is not None:
            yield self._columns(*got)

    def _generate_sequential(self):
        """One thread reads; with workers > 1 (recovery mode) each batch's records are decoded in slices on
        the workers (cc/record/parallel_decode.h), so skipped records are listed as one worker lists them."""
        decoder = self._decoder()
        for path in self.paths:
            reader = _native.RecordReader(path, self.compression, self.verify, self.skip_corrupt)
            done = 0
            ended = False
            while not ended:
                want = self.batch_size - decoder.rows
                self._segments.append((decoder.rows, path, done))
                if self.workers == 1:  # decoding straight from the reader's buffer, no copy of the records
                    got = reader.decode(decoder, want)
                    ended = got < want
                else:
                    got, ended = reader.decode_parallel(decoder, want, self.workers)
                done += got
                if decoder.rows == self.batch_size:
                    yield self._finish(decoder)
            self._note_skipped(path, reader)
        if decoder.rows:
            yield self._finish(decoder)

    def _note_skipped(self, path, reader):
        if reader.skipped:
            self.skipped.extend(reader.skipped)
            warnings.warn(f"{path}: skipped {len(reader.skipped)} corrupt record(s) or region(s); "
                          "see .skipped of the iterator read() returned", stacklevel=3)

    def _generate_unordered(self):
        """Files on worker threads, one decoder each; batches come in the order they are finished (each
        file's last batch may be short)."""
        results: queue.Queue = queue.Queue(maxsize=2 * self.workers)
        todo = iter(self.paths)
        lock = threading.Lock()
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    results.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work():
            try:
                decoder = self._decoder()
                while not stop.is_set():
                    with lock:
                        path = next(todo, None)
                    if path is None:
                        break
                    reader = _native.RecordReader(path, self.compression, self.verify, self.skip_corrupt)
                    done, segments = 0, []
                    while not stop.is_set():
                        want = self.batch_size - decoder.rows
                        segments.append((decoder.rows, path, done))
                        got = reader.decode(decoder, want)
                        done += got
                        if decoder.rows == self.batch_size or (got < want and decoder.rows):
                            rows = decoder.rows
                            if not put(("batch", (decoder.finish(), rows, segments))):
                                return
                            segments = []
                        if got < want:
                            break
                    put(("file", (path, reader)))
            except BaseException as exc:  # handed to the consumer, raised there
                put(("error", exc))
            finally:
                put(("done", None))

        threads = [threading.Thread(target=work, daemon=True) for _ in range(min(self.workers, len(self.paths)))]
        for t in threads:
            t.start()
        running = len(threads)
        try:
            while running:
                what, item = results.get()
                if what == "batch":
                    yield self._columns(*item)
                elif what == "file":
                    self._note_skipped(*item)
                elif what == "error":
                    raise item
                else:
                    running -= 1
        finally:
            stop.set()
            for t in threads:
                t.join()


def read(paths_or_glob, *, batch_size: int = 1024, spec=None, verify: bool = True, skip_corrupt: bool = False,
         compression="auto", features=None, strict: bool = True, workers: int | None = None,
         ordered: bool = True) -> ReadIterator:
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

    Decoding runs on ``workers`` threads (default ``None``: every core this process may use). The files
    are read as one stream of records and cut into batches as one thread cuts them; each batch is decoded
    whole on a worker while earlier ones are handed out, and batches come in file order, the same as with
    ``workers=1`` (rows, batch boundaries, the first error). ``ordered=False`` instead reads whole files
    on the workers at once and yields batches as they are done (each file's last batch may be short).
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
    return ReadIterator(paths, s, batch_size, verify, skip_corrupt, comp, names, strict=strict,
                        workers=workers_arg(workers), ordered=bool(ordered))


def head(path, n: int = 5, *, compression="auto") -> list[dict]:
    """The first n records of a file as {name: (kind, [values])} (no spec needed). Feature names that
    are not UTF-8 come back with their bytes kept as lone surrogates (errors="surrogateescape")."""
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n < 1 << 63:
        raise SpecError(f"n must be a non-negative 64-bit integer, not {n!r}")
    reader = _native.RecordReader(path_arg(path), _compression_arg(compression))
    return reader.parse(n)
