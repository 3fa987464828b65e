"""TensorFlow's own TFRecord file tests, ported to tfforge.records.

Two upstream files, their inputs and expected results reproduced (each test names the upstream test):
  tensorflow/python/lib/io/tf_record_test.py   (TFRecordWriter, tf_record_iterator, tf_record_random_reader)
  tensorflow/core/lib/io/recordio_test.cc      (io::RecordWriter / io::RecordReader, offset in, offset out)

tfforge stands in for TensorFlow as follows:
  tf_record.TFRecordWriter(fn, options)         records.Writer(fn, compression, atomic=False).write_serialized
  tf_record.tf_record_iterator(fn, options)     records.iter_raw(fn, compression)
  tf_record.tf_record_random_reader(fn)         records.RandomReader(fn)
  io::RecordReader::ReadRecord(&offset, &rec)   records.RandomReader(fn).read(offset) -> (rec, next offset)
  errors_impl.DataLossError                     tfforge.errors.CorruptRecordError
  errors_impl.FailedPreconditionError           tfforge.errors.ClosedError
  errors_impl.OutOfRangeError / IndexError      tfforge.errors.OutOfRangeError (an IndexError)

Live TensorFlow is the second oracle wherever it runs: the same inputs go through TensorFlow and the
results must agree with tfforge's. Deliberate differences (docs/records.md, "Compatibility with
TensorFlow") are marked DIFFERENCE below, each with the option that gives TensorFlow's behaviour.
"""

from __future__ import annotations

import gzip
import os
import random
import string
import zlib

import pytest

import tfforge.records as records
from tfforge.errors import ClosedError, CorruptRecordError, OutOfRangeError

UPSTREAM_PY = "tensorflow/python/lib/io/tf_record_test.py"
UPSTREAM_CC = "tensorflow/core/lib/io/recordio_test.cc"

# Edgar Allan Poe's 'Eldorado', the upstream _TEXT (public domain).
_TEXT = b"""Gaily bedight,
    A gallant knight,
    In sunshine and in shadow,
    Had journeyed long,
    Singing a song,
    In search of Eldorado.

    But he grew old
    This knight so bold
    And o'er his heart a shadow
    Fell as he found
    No spot of ground
    That looked like Eldorado.

   And, as his strength
   Failed him at length,
   He met a pilgrim shadow
   'Shadow,' said he,
   'Where can it be
   This land of Eldorado?'

   'Over the Mountains
    Of the Moon'
    Down the Valley of the Shadow,
    Ride, boldly ride,'
    The shade replied,
    'If you seek for Eldorado!'
    """

NUM_FILES, NUM_RECORDS = 2, 7  # TFCompressionTestCase.setUp
COMPRESSIONS = ["none", "gzip", "zlib"]
TF_COMPRESSION = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}


@pytest.fixture(scope="module")
def tf():
    """Live TensorFlow, the second oracle (tests that only check tfforge do not ask for it)."""
    return pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tf_record(tf):
    from tensorflow.python.lib.io import tf_record as module

    return module


def _record(f: int, r: int) -> bytes:
    return b"Record %d of file %d" % (r, f)


def _write(path, recs, compression="none") -> str:
    path = os.fspath(path)
    with records.Writer(path, compression) as w:
        for r in recs:
            w.write_serialized(r)
    return path


def _tf_write(tf, path, recs, compression="none") -> str:
    path = os.fspath(path)
    with tf.io.TFRecordWriter(path, options=tf.io.TFRecordOptions(TF_COMPRESSION[compression])) as w:
        for r in recs:
            w.write(r)
    return path


def _create_files(tmp_path, compression, prefix):
    return [_write(tmp_path / f"{prefix}tfrecord.{i}.txt", [_record(i, j) for j in range(NUM_RECORDS)], compression)
            for i in range(NUM_FILES)]


def _read(path, compression="auto") -> list[bytes]:
    return list(records.iter_raw(path, compression))


def _bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


# --- tf_record_test.py: TFRecordWriterTest ---------------------------------------------------------


def test_write_read_zlib_files(tmp_path, tf):
    """tf_record_test.py TFRecordWriterTest.testWriteReadZLibFiles"""
    files = _create_files(tmp_path, "none", "uncompressed")
    zlib_files = []
    for i, fn in enumerate(files):
        zfn = tmp_path / f"tfrecord_{i}.z"
        zfn.write_bytes(zlib.compress(_bytes(fn)))
        zlib_files.append(zfn)
    assert all(_bytes(a) != _bytes(b) for a, b in zip(files, zlib_files))
    # Written compressed: byte-identical to zlib.compress of the uncompressed file.
    compressed = _create_files(tmp_path, "zlib", "compressed")
    assert [_bytes(a) for a in compressed] == [_bytes(b) for b in zlib_files]
    # Decompressed again: the uncompressed file.
    assert [zlib.decompress(_bytes(fn)) for fn in compressed] == [_bytes(fn) for fn in files]
    # Oracle: TensorFlow's writer produces the same bytes, compressed and not.
    for i in range(NUM_FILES):
        recs = [_record(i, j) for j in range(NUM_RECORDS)]
        for comp, mine in (("none", files[i]), ("zlib", compressed[i])):
            assert _bytes(_tf_write(tf, tmp_path / f"tf_{comp}_{i}", recs, comp)) == _bytes(mine)


def test_write_read_gzip_files(tmp_path, tf):
    """tf_record_test.py TFRecordWriterTest.testWriteReadGzipFiles"""
    files = _create_files(tmp_path, "none", "uncompressed")
    gzip_files = []
    for i, fn in enumerate(files):
        gzfn = tmp_path / f"tfrecord_{i}.gz"
        with gzip.GzipFile(gzfn, "wb") as f:
            f.write(_bytes(fn))
        gzip_files.append(gzfn)
    assert all(_bytes(a) != _bytes(b) for a, b in zip(files, gzip_files))
    compressed = _create_files(tmp_path, "gzip", "compressed")
    assert [gzip.decompress(_bytes(fn)) for fn in compressed] == [_bytes(fn) for fn in files]
    # Oracle: TensorFlow reads the gzip files tfforge wrote.
    for i, fn in enumerate(compressed):
        got = list(tf.compat.v1.io.tf_record_iterator(str(fn), options=tf.io.TFRecordOptions("GZIP")))
        assert got == [_record(i, j) for j in range(NUM_RECORDS)]


def test_no_compression_type(tmp_path, tf):
    """tf_record_test.py TFRecordWriterTest.testNoCompressionType: "" is no compression; 5 and "BZ2" are
    ValueError (tfforge: SpecError, a ValueError, raised by Writer and iter_raw alike)."""
    for none in (None, "", "none", "NONE"):
        _write(tmp_path / "n", [b"x"], none)
        assert _bytes(tmp_path / "n") == _bytes(_tf_write(tf, tmp_path / "t", [b"x"]))
    for bad in (5, "BZ2"):
        with pytest.raises(ValueError):
            records.Writer(tmp_path / "bad", compression=bad)
        with pytest.raises(ValueError):
            records.iter_raw(tmp_path / "n", compression=bad)
        with pytest.raises(ValueError):
            tf.io.TFRecordOptions(bad)
    assert not os.path.exists(tmp_path / "bad")


def test_zlib_compression_type(tmp_path, tf):
    """tf_record_test.py TFRecordWriterTest.testZlibCompressionType: "ZLIB" names zlib compression."""
    _write(tmp_path / "z", [b"abc"], "ZLIB")
    assert zlib.decompress(_bytes(tmp_path / "z")) == _bytes(_write(tmp_path / "u", [b"abc"]))
    assert _bytes(tmp_path / "z") == _bytes(_tf_write(tf, tmp_path / "t", [b"abc"], "zlib"))


def _compression_records():
    rnd = random.Random(123)
    random_record = "".join(rnd.choice(string.digits) for _ in range(10000)).encode()
    repeated_record = _TEXT
    for _ in range(10000):
        start_i = rnd.randint(0, len(_TEXT))
        length = rnd.randint(10, 200)
        repeated_record += _TEXT[start_i:start_i + length]
    return [random_record, repeated_record, random_record]


def test_compression_options(tmp_path, tf):
    """tf_record_test.py TFRecordWriterTest.testCompressionOptions, for the option tfforge has
    (compression_level, as `level`): 2 compresses worse than the default, 6 equals it.

    DIFFERENCE: flush_mode, input/output_buffer_size, window_bits and compression_strategy are not
    Writer options (the upstream test expects no size change from four of them); use
    tf.io.TFRecordWriter for those."""
    recs = _compression_records()

    def size(**kw):
        path = tmp_path / f"c{len(kw)}{kw.get('level', '')}"
        with records.Writer(path, "zlib", **kw) as w:
            for r in recs:
                w.write_serialized(r)
        return os.path.getsize(path)

    default = size()
    assert size(level=2) > default
    assert size(level=6) == default
    opts = tf.io.TFRecordOptions("ZLIB")
    tf_path = str(tmp_path / "tf")
    with tf.io.TFRecordWriter(tf_path, opts) as w:
        for r in recs:
            w.write(r)
    assert os.path.getsize(tf_path) == default
    with pytest.raises(ValueError):
        records.Writer(tmp_path / "bad_level", "zlib", level=10)


# --- tf_record_test.py: TFRecordWriterZlibTest -------------------------------------------------------


def test_zlib_flush_record(tmp_path, tf):
    """tf_record_test.py TFRecordWriterZlibTest.testZLibFlushRecord: a zlib stream with a full flush after
    every byte and trailing empty blocks reads back."""
    original = [b"small record"]
    fn = _write(tmp_path / "small_record", original)
    buff = _bytes(fn)
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS)
    output = b""
    for c in buff:
        output += compressor.compress(bytes([c]))
        output += compressor.flush(zlib.Z_FULL_FLUSH)
    output += compressor.flush(zlib.Z_FULL_FLUSH)
    output += compressor.flush(zlib.Z_FULL_FLUSH)
    output += compressor.flush(zlib.Z_FINISH)
    with open(fn, "wb") as h:
        h.write(output)
    assert _read(fn, "zlib") == original
    assert records.count(fn, compression="zlib") == 1
    assert list(tf.compat.v1.io.tf_record_iterator(fn, options=tf.io.TFRecordOptions("ZLIB"))) == original


@pytest.mark.parametrize("large", [False, True], ids=["testZlibReadWrite", "testZlibReadWriteLarge"])
def test_zlib_read_write(tmp_path, large):
    """tf_record_test.py TFRecordWriterZlibTest.testZlibReadWrite / testZlibReadWriteLarge: a file
    compressed by the zlib library reads back (the large case: one record of about 5 MB)."""
    original = [_TEXT * 10240] if large else [b"foo", b"bar"]
    fn = _write(tmp_path / "zlib_read_write.tfrecord", original)
    zfn = tmp_path / "zlib_read_write.tfrecord.z"
    zfn.write_bytes(zlib.compress(_bytes(fn)))
    assert _read(zfn, "zlib") == original
    assert _read(zfn) == original  # detected from the content


def test_gzip_read_write(tmp_path):
    """tf_record_test.py TFRecordWriterZlibTest.testGzipReadWrite"""
    original = [b"foo", b"bar"]
    fn = _write(tmp_path / "gzip_read_write.tfrecord", original)
    gzfn = tmp_path / "tfrecord.gz"
    with gzip.GzipFile(gzfn, "wb") as f:
        f.write(_bytes(fn))
    assert _read(gzfn, "gzip") == original


# --- tf_record_test.py: TFRecordIteratorTest ---------------------------------------------------------


def test_iterator(tmp_path, tf):
    """tf_record_test.py TFRecordIteratorTest.testIterator"""
    recs = [_record(0, i) for i in range(NUM_RECORDS)]
    fn = _write(tmp_path / "compressed_records", recs, "zlib")
    it = records.iter_raw(fn, "zlib")
    for expected in recs:
        assert next(it) == expected
    with pytest.raises(StopIteration):
        next(it)
    assert list(tf.compat.v1.io.tf_record_iterator(fn, options=tf.io.TFRecordOptions("ZLIB"))) == recs


@pytest.mark.parametrize("large", [False, True], ids=["testWriteZlibRead", "testWriteZlibReadLarge"])
def test_write_zlib_read(tmp_path, large):
    """tf_record_test.py TFRecordIteratorTest.testWriteZlibRead / testWriteZlibReadLarge: what the
    writer compresses, the zlib library decompresses."""
    original = [_TEXT * 10240] if large else [b"foo", b"bar"]
    fn = _write(tmp_path / "write_zlib_read.tfrecord.z", original, "zlib")
    zfn = tmp_path / "write_zlib_read.tfrecord"
    zfn.write_bytes(zlib.decompress(_bytes(fn)))
    assert _read(zfn) == original


def test_write_gzip_read(tmp_path):
    """tf_record_test.py TFRecordIteratorTest.testWriteGzipRead"""
    original = [b"foo", b"bar"]
    fn = _write(tmp_path / "write_gzip_read.tfrecord.gz", original, "gzip")
    gzfn = tmp_path / "write_gzip_read.tfrecord"
    gzfn.write_bytes(gzip.decompress(_bytes(fn)))
    assert _read(gzfn) == original


def test_bad_file(tmp_path, tf):
    """tf_record_test.py TFRecordIteratorTest.testBadFile: 14 bytes of a 3-byte record (header + 2 data
    bytes) is a DataLossError (tfforge: CorruptRecordError naming the file and offset 0)."""
    fn = _write(tmp_path / "bad_file", [b"123"])
    truncated = tmp_path / "bad_file_truncated"
    truncated.write_bytes(_bytes(fn)[:14])
    with pytest.raises(CorruptRecordError, match="truncated") as e:
        _read(truncated)
    assert e.value.offset == 0 and e.value.path == str(truncated)
    with pytest.raises(tf.errors.DataLossError):
        list(tf.compat.v1.io.tf_record_iterator(str(truncated)))


def test_read_growing_file_preserves_read_offset(tmp_path, tf):
    """tf_record_test.py TFRecordIteratorTest.testReadGrowingFile_preservesReadOffset: at EOF the
    iterator raises StopIteration but keeps its offset; records appended later come out next.

    DIFFERENCE: records.Writer is atomic by default (the file appears when closed); atomic=False
    writes in place as tf.io.TFRecordWriter does, which tailing needs."""
    fn = str(tmp_path / "file.tfrecord")
    with records.Writer(fn, atomic=False) as writer:
        writer.write_serialized(b"one")
        writer.write_serialized(b"two")
        writer.flush()
        it = records.iter_raw(fn)
        tf_it = tf.compat.v1.io.tf_record_iterator(fn)
        for i in (it, tf_it):
            assert next(i) == b"one"
            assert next(i) == b"two"
            for _ in range(2):
                with pytest.raises(StopIteration):
                    next(i)
        writer.write_serialized(b"three")
        writer.flush()
        for i in (it, tf_it):
            assert next(i) == b"three"
            with pytest.raises(StopIteration):
                next(i)
        assert it.offset == os.path.getsize(fn)


@pytest.mark.parametrize("compression", ["gzip", "zlib"])
def test_read_growing_compressed_file(tmp_path, compression):
    """tf_record_test.py TFRecordIteratorTest.testReadGrowingFile_preservesReadOffset with a compressed
    file: Writer.flush() ends a deflate block, so everything written so far can be read."""
    fn = str(tmp_path / "file.tfrecord")
    with records.Writer(fn, compression, atomic=False) as writer:
        writer.write_serialized(b"one")
        writer.write_serialized(b"two")
        writer.flush()
        it = records.iter_raw(fn, compression)
        assert [next(it), next(it)] == [b"one", b"two"]
        with pytest.raises(StopIteration):
            next(it)
        writer.write_serialized(b"three")
        writer.flush()
        assert next(it) == b"three"
        with pytest.raises(StopIteration):
            next(it)
    assert _read(fn) == [b"one", b"two", b"three"]


def test_read_truncated_file_preserves_read_offset(tmp_path, tf):
    """tf_record_test.py TFRecordIteratorTest.testReadTruncatedFile_preservesReadOffset: a record that
    lacks its last byte is a DataLossError every time, at the same offset; once completed it reads."""
    fn = _write(tmp_path / "temp_file", [b"truncated"])
    record_bytes = _bytes(fn)
    fn_truncated = str(tmp_path / "truncated_file")
    _write(fn_truncated, [b"good"])
    good_size = os.path.getsize(fn_truncated)
    with open(fn_truncated, "ab", buffering=0) as f:
        f.write(record_bytes[:-1])
        it = records.iter_raw(fn_truncated)
        tf_it = tf.compat.v1.io.tf_record_iterator(fn_truncated)
        assert next(it) == b"good" and next(tf_it) == b"good"
        for _ in range(2):
            with pytest.raises(CorruptRecordError) as e:
                next(it)
            assert e.value.offset == good_size and it.offset == good_size
            with pytest.raises(tf.errors.DataLossError):
                next(tf_it)
        f.write(record_bytes[-1:])
        assert next(it) == b"truncated" and next(tf_it) == b"truncated"
        with pytest.raises(StopIteration):
            next(it)
        with pytest.raises(StopIteration):
            next(tf_it)


# --- tf_record_test.py: TFRecordRandomReaderTest -----------------------------------------------------


def test_random_reader_reading_works(tmp_path, tf_record):
    """tf_record_test.py TFRecordRandomReaderTest.testRandomReaderReadingWorks"""
    recs = [_record(0, i) for i in range(NUM_RECORDS)]
    fn = _write(tmp_path / "uncompressed_records", recs)
    reader = records.RandomReader(fn)
    tf_reader = tf_record.tf_record_random_reader(fn)
    offset, offsets = 0, [0]
    for i in range(NUM_RECORDS):
        record, nxt = reader.read(offset)
        assert record == recs[i] and tf_reader.read(offset) == (record, nxt)
        offset = nxt
        offsets.append(offset)
    with pytest.raises(IndexError, match=r"Out of range.*offset"):
        reader.read(offset)
    with pytest.raises(IndexError, match=r"Out of range.*offset"):
        tf_reader.read(offset)
    for i in range(NUM_RECORDS - 1, 0, -1):
        record, offset = reader.read(offsets[i])
        assert offset == offsets[i + 1] and record == recs[i]


def test_random_reader_throws_error_for_invalid_offset(tmp_path, tf, tf_record):
    """tf_record_test.py TFRecordRandomReaderTest.testRandomReaderThrowsErrorForInvalidOffset"""
    fn = _write(tmp_path / "uncompressed_records", [_record(0, i) for i in range(NUM_RECORDS)])
    with pytest.raises(CorruptRecordError, match="corrupted record") as e:
        records.RandomReader(fn).read(1)
    assert e.value.offset == 1
    with pytest.raises(tf.errors.DataLossError, match="corrupted record"):
        tf_record.tf_record_random_reader(fn).read(1)


def test_closing_random_reader_causes_errors_for_further_reading(tmp_path, tf, tf_record):
    """tf_record_test.py TFRecordRandomReaderTest.testClosingRandomReaderCausesErrorsForFurtherReading"""
    fn = _write(tmp_path / "uncompressed_records", [_record(0, i) for i in range(NUM_RECORDS)])
    reader = records.RandomReader(fn)
    reader.close()
    with pytest.raises(ClosedError, match="closed"):
        reader.read(0)
    tf_reader = tf_record.tf_record_random_reader(fn)
    tf_reader.close()
    with pytest.raises(tf.errors.FailedPreconditionError, match="closed"):
        tf_reader.read(0)


# --- tf_record_test.py: TFRecordWriterCloseAndFlushTests (+ Gzip, Zlib subclasses) -------------------


def _records20():
    return [b"Record %d" % r for r in range(20)]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_write_and_leave_open(tmp_path, compression):
    """tf_record_test.py TFRecordWriterCloseAndFlushTests.testWriteAndLeaveOpen (and the Gzip/Zlib
    subclasses): a writer never closed does not crash.

    DIFFERENCE: the unclosed atomic writer leaves no file (TensorFlow's leaves what it flushed);
    atomic=False keeps it."""
    fn = tmp_path / "tf_record_writer_test.txt"
    w = records.Writer(fn, compression)
    for r in _records20():
        w.write_serialized(r)
    del w
    assert not os.path.exists(fn) and os.listdir(tmp_path) == []
    w = records.Writer(fn, compression, atomic=False)
    w.write_serialized(b"x")
    w.flush()
    del w
    assert os.path.exists(fn)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_write_and_read(tmp_path, tf, compression):
    """tf_record_test.py TFRecordWriterCloseAndFlushTests.testWriteAndRead (and Gzip/Zlib)"""
    fn = str(tmp_path / "tf_record_writer_test.txt")
    w = records.Writer(fn, compression)
    for r in _records20():
        w.write_serialized(r)
    w.close()
    assert _read(fn, compression) == _records20()
    opts = tf.io.TFRecordOptions(TF_COMPRESSION[compression])
    assert list(tf.compat.v1.io.tf_record_iterator(fn, options=opts)) == _records20()
    tf_fn = _tf_write(tf, tmp_path / "tf", _records20(), compression)
    assert _read(tf_fn, compression) == _records20()
    assert _bytes(tf_fn) == _bytes(fn)


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_double_close(tmp_path, compression):
    """tf_record_test.py TFRecordWriterCloseAndFlushTests.testDoubleClose (and Gzip/Zlib)"""
    w = records.Writer(tmp_path / "f", compression)
    w.write_serialized(b"Record 0")
    w.close()
    w.close()
    assert _read(tmp_path / "f", compression) == [b"Record 0"]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_flush_after_close_is_error(tmp_path, tf, compression):
    """tf_record_test.py TFRecordWriterCloseAndFlushTests.testFlushAfterCloseIsError (and Gzip/Zlib)"""
    w = records.Writer(tmp_path / "f", compression)
    w.write_serialized(b"Record 0")
    w.close()
    with pytest.raises(ClosedError, match="closed"):
        w.flush()
    tw = tf.io.TFRecordWriter(str(tmp_path / "t"), tf.io.TFRecordOptions(TF_COMPRESSION[compression]))
    tw.write(b"Record 0")
    tw.close()
    with pytest.raises(tf.errors.FailedPreconditionError):
        tw.flush()


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_write_after_close_is_error(tmp_path, tf, compression):
    """tf_record_test.py TFRecordWriterCloseAndFlushTests.testWriteAfterCloseIsError (and Gzip/Zlib)"""
    w = records.Writer(tmp_path / "f", compression)
    w.write_serialized(b"Record 0")
    w.close()
    for call in (lambda: w.write_serialized(b"Record 1"), lambda: w.write({"x": [1]}),
                 lambda: w.write_example({"x": 1})):
        with pytest.raises(ClosedError, match="closed"):
            call()
    assert _read(tmp_path / "f", compression) == [b"Record 0"]
    tw = tf.io.TFRecordWriter(str(tmp_path / "t"), tf.io.TFRecordOptions(TF_COMPRESSION[compression]))
    tw.write(b"Record 0")
    tw.close()
    with pytest.raises(tf.errors.FailedPreconditionError):
        tw.write(b"Record 1")


# --- recordio_test.cc --------------------------------------------------------------------------------


def _number_string(n: int) -> bytes:  # NumberString
    return b"%d." % n


def _big_string(partial: bytes, n: int) -> bytes:  # BigString
    return (partial * (n // max(len(partial), 1) + 1))[:n]


class _SimplePhilox:
    """random::SimplePhilox over PhiloxRandom(seed_lo, seed_hi): Philox4x32-10, one 32-bit sample of
    each block of four at a time. Checked against TensorFlow's own Philox in test_philox_matches_tf."""

    M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85

    def __init__(self, seed_lo: int, seed_hi: int):
        self.key = [seed_lo & 0xFFFFFFFF, seed_lo >> 32]
        self.counter = [0, 0, seed_hi & 0xFFFFFFFF, seed_hi >> 32]
        self.block, self.used = [], 4

    def _next_block(self):
        c, k = list(self.counter), list(self.key)
        for rnd in range(10):
            p0, p1 = self.M0 * c[0], self.M1 * c[2]
            c = [((p1 >> 32) ^ c[1] ^ k[0]) & 0xFFFFFFFF, p1 & 0xFFFFFFFF,
                 ((p0 >> 32) ^ c[3] ^ k[1]) & 0xFFFFFFFF, p0 & 0xFFFFFFFF]
            if rnd < 9:
                k = [(k[0] + self.W0) & 0xFFFFFFFF, (k[1] + self.W1) & 0xFFFFFFFF]
        for i in range(4):  # SkipOne: a 128-bit counter increment
            self.counter[i] = (self.counter[i] + 1) & 0xFFFFFFFF
            if self.counter[i]:
                break
        return c

    def rand32(self) -> int:
        if self.used == 4:
            self.block, self.used = self._next_block(), 0
        self.used += 1
        return self.block[self.used - 1]

    def skewed(self, max_log: int) -> int:
        shift = self.rand32() % (max_log + 1)
        return self.rand32() & ((1 << shift) - 1 if shift < 32 else 0xFFFFFFFF)


def test_philox_matches_tf(tf):
    """The Philox generator recordio_test.cc's RandomRead uses, against TensorFlow's: key 301 and
    counter (0, 17) are PhiloxRandom(301, 17)."""
    ours = _SimplePhilox(301, 17)
    want = [ours.rand32() for _ in range(12)]
    got = tf.raw_ops.StatelessRandomUniformFullIntV2(
        shape=[12], key=tf.constant([301], tf.uint64), counter=tf.constant([0, 17], tf.uint64), alg=1,
        dtype=tf.uint32).numpy().tolist()
    assert got == want


class _RecordIO:
    """The RecordioTest fixture: records written into one file, read with a RandomReader and an offset."""

    def __init__(self, path, compression="none"):
        self.path, self.compression = str(path), compression
        self.written: list[bytes] = []
        self.reader = None
        self.readpos = 0

    def write(self, msg: bytes):
        assert self.reader is None, "Write() after starting to read"
        self.written.append(msg)

    def _start(self):
        if self.reader is None:
            _write(self.path, self.written, self.compression)
            self.reader = records.RandomReader(self.path, self.compression)

    def read(self):
        """A record, "EOF" or the error, like RecordioTest::Read."""
        self._start()
        try:
            record, self.readpos = self.reader.read(self.readpos)
            return record
        except OutOfRangeError:
            return "EOF"
        except CorruptRecordError as e:
            return e


def test_empty(tmp_path):
    """recordio_test.cc RecordioTest.Empty"""
    assert _RecordIO(tmp_path / "f").read() == "EOF"
    assert _read(tmp_path / "f") == []


def test_read_write(tmp_path):
    """recordio_test.cc RecordioTest.ReadWrite (and reads at EOF keep working)"""
    rio = _RecordIO(tmp_path / "f")
    for m in (b"foo", b"bar", b"", b"xxxx"):
        rio.write(m)
    assert [rio.read() for _ in range(6)] == [b"foo", b"bar", b"", b"xxxx", "EOF", "EOF"]


def test_many_records(tmp_path, tf):
    """recordio_test.cc RecordioTest.ManyRecords: 100,000 records."""
    recs = [_number_string(i) for i in range(100000)]
    fn = _write(tmp_path / "f", recs)
    assert _read(fn) == recs
    assert records.count(fn) == 100000
    assert _bytes(_tf_write(tf, tmp_path / "t", recs)) == _bytes(fn)


def test_random_read(tmp_path):
    """recordio_test.cc RecordioTest.RandomRead: 500 records of skewed lengths (up to 128 KB) from
    PhiloxRandom(301, 17)."""
    rnd = _SimplePhilox(301, 17)
    recs = [_big_string(_number_string(i), rnd.skewed(17)) for i in range(500)]
    rio = _RecordIO(tmp_path / "f")
    for r in recs:
        rio.write(r)
    assert [rio.read() for _ in range(500)] == recs
    assert rio.read() == "EOF"
    assert _read(tmp_path / "f") == recs


@pytest.mark.parametrize("compression", ["none", "zlib"],
                         ids=["NonSequentialReads+WithReadBuffer", "NonSequentialReadsWithCompression"])
def test_non_sequential_reads(tmp_path, compression):
    """recordio_test.cc RecordioTest.NonSequentialReads, NonSequentialReadsWithReadBuffer (tfforge has
    one buffer size) and NonSequentialReadsWithCompression: offsets of the uncompressed stream."""
    fn = _write(tmp_path / "f", [_number_string(i) for i in range(10)], compression)
    reader = records.RandomReader(fn, compression)
    offsets, offset = [], 0
    for i in range(10):
        offsets.append(offset)
        _, offset = reader.read(offset)
    record, offset = reader.read(offsets[3])
    assert record == b"3." and offset == offsets[4]
    record, offset = reader.read(offsets[8])
    assert record == b"8." and offset == offsets[9]


@pytest.mark.parametrize("compression", ["none", "zlib"], ids=["ReadError+ReadErrorWithBuffering",
                                                                "ReadErrorWithCompression"])
def test_read_error(tmp_path, compression):
    """recordio_test.cc RecordioTest.ReadError, ReadErrorWithBuffering, ReadErrorWithCompression: a failed
    read leaves the offset where it was, so a retry does not lose the record.

    The upstream test injects one failing read through a fake file; here the read fails because the
    file is incomplete (DataLoss: its last byte missing; compressed, its second half), then succeeds once
    the rest is there."""
    wrote = _big_string(b"well hello there!", 100)
    full = _bytes(_write(tmp_path / "full", [wrote], compression))
    cut = len(full) - 1 if compression == "none" else len(full) // 2
    fn = tmp_path / "f"
    fn.write_bytes(full[:cut])
    it = records.iter_raw(fn, compression)
    with pytest.raises(CorruptRecordError):
        next(it)
    assert it.offset == 0
    with open(fn, "ab") as f:
        f.write(full[cut:])
    assert next(it) == wrote and it.offset > 0
    reader = records.RandomReader(fn, compression)
    assert reader.read(0) == (wrote, it.offset)


@pytest.mark.parametrize("case,offset,delta", [("CorruptLength", 6, 100), ("CorruptLengthCrc", 10, 100),
                                                ("CorruptData", 14, 10), ("CorruptDataCrc", -1, 10)])
def test_corruption(tmp_path, tf, tf_record, case, offset, delta):
    """recordio_test.cc RecordioTest.CorruptLength / CorruptLengthCrc / CorruptData / CorruptDataCrc:
    "foo" with one byte incremented is Data loss, for the random reader, the iterator, read/verify and
    (oracle) TensorFlow's reader."""
    fn = _write(tmp_path / "f", [b"foo"])
    raw = bytearray(_bytes(fn))
    raw[offset] = (raw[offset] + delta) % 256
    (tmp_path / "f").write_bytes(bytes(raw))
    rio = _RecordIO(fn)
    rio.reader = records.RandomReader(fn)
    err = rio.read()
    assert isinstance(err, CorruptRecordError) and err.offset == 0, case
    with pytest.raises(CorruptRecordError):
        _read(fn)
    assert not records.verify(fn).ok
    with pytest.raises(tf.errors.DataLossError):
        tf_record.tf_record_random_reader(fn).read(0)


@pytest.mark.parametrize("past", [0, 5], ids=["ReadEnd", "ReadPastEnd"])
def test_offset_past_end_returns_no_records(tmp_path, past):
    """recordio_test.cc RecordioTest.ReadEnd / ReadPastEnd (CheckOffsetPastEndReturnsNoRecords): reading
    at or beyond the end is OutOfRange."""
    fn = _write(tmp_path / "f", [b"foo", b"bar", _big_string(b"x", 10000)])
    with pytest.raises(OutOfRangeError):
        records.RandomReader(fn).read(os.path.getsize(fn) + past)
