"""Raw records by byte offset, as TensorFlow's ``tf_record_iterator`` and ``tf_record_random_reader`` give
them: ``iter_raw`` (sequential, resumable: tailing a growing file, retrying after a damaged record) and
``RandomReader`` (the record at any offset). Offsets are those of the uncompressed stream."""

from __future__ import annotations

import numbers
import os

from tfforge import _native
from tfforge.errors import ClosedError, OutOfRangeError, SpecError


def compression_arg(compression) -> str:
    """The native readers' compression name: "auto" (from the name, else the content), none, gzip, zlib."""
    if compression is None:
        return "auto"
    if not isinstance(compression, str):
        raise SpecError(f"compression must be a string (auto, none, gzip or zlib), not {compression!r}")
    c = compression.lower()
    c = {"": "none", "gz": "gzip", "zz": "zlib"}.get(c, c)
    if c not in ("auto", "none", "gzip", "zlib"):
        raise SpecError(f"unknown compression {compression!r} (expected auto, none, gzip or zlib)")
    return c


def path_arg(path) -> str:
    try:
        return os.fspath(path)
    except TypeError:
        raise SpecError(f"expected a file path, not {type(path).__name__}") from None


def _offset_arg(offset) -> int:
    if not isinstance(offset, numbers.Integral) or isinstance(offset, bool):
        raise SpecError(f"offset must be an integer, not {offset!r}")
    if offset < 0:
        raise OutOfRangeError(f"Out of range at reading offset {offset}: offsets start at 0")
    return int(offset)


class RawIterator:
    """What ``iter_raw`` returns: iterate it for each record's bytes.

    ``offset`` is where the next record starts. At the end of the data ``next()`` raises StopIteration
    but the iterator stays usable: records appended to the file later come out on the next call
    (tailing a file another process writes, as TensorBoard does). A truncated or corrupt record raises
    CorruptRecordError naming the file and offset and leaves ``offset`` unchanged, so the call can be
    retried once the writer has completed the record.
    """

    def __init__(self, path, compression=None, *, verify: bool = True, offset: int = 0):
        self.path = path_arg(path)
        self.offset = _offset_arg(offset)
        self._reader = _native.RandomRecordReader(self.path, compression_arg(compression), bool(verify))

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        got = self._reader.read(self.offset)
        if got is None:
            raise StopIteration
        record, self.offset = got
        return record

    def close(self) -> None:
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def iter_raw(path, compression=None, *, verify: bool = True, offset: int = 0) -> RawIterator:
    """Each record of a TFRecord file as bytes, from byte ``offset`` on (see RawIterator for resuming).

    compression: None / "auto" (from the name, else the content), "none", "gzip" or "zlib". verify
    checks every record's data CRC.
    """
    return RawIterator(path, compression, verify=verify, offset=offset)


class RandomReader:
    """Reads the record at a byte offset: ``read(offset) -> (record, next_offset)``.

        reader = records.RandomReader("events.tfrecord")
        first, offset = reader.read(0)
        second, offset = reader.read(offset)

    An offset where no record starts is CorruptRecordError ("corrupted record"); the end of the data or
    beyond is OutOfRangeError (an IndexError); any read after close() is ClosedError. Compressed files
    work too (offsets of the uncompressed stream; reading backwards inflates from the start again).
    """

    def __init__(self, path, compression=None, *, verify: bool = True):
        self.path = path_arg(path)
        self._reader = _native.RandomRecordReader(self.path, compression_arg(compression), bool(verify))

    def read(self, offset: int) -> tuple[bytes, int]:
        offset = _offset_arg(offset)
        if self._reader.closed:
            raise ClosedError("the reader is closed", path=self.path)
        got = self._reader.read(offset)
        if got is None:
            raise OutOfRangeError(f"Out of range at reading offset {offset}: the data ends there",
                                  path=self.path, offset=offset)
        return got

    @property
    def closed(self) -> bool:
        return self._reader.closed

    def close(self) -> None:
        self._reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
