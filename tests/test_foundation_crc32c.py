"""CRC32C: both implementations against the standard check value, each other, a bitwise reference
and the framing bytes tf.io.TFRecordWriter writes."""

import os
import struct

import numpy as np
import pytest

from tfforge import _native
from tfforge.records import crc32c, masked_crc32c

CHECK_INPUT = b"123456789"
CHECK_VALUE = 0xE3069283

IMPLEMENTATIONS = {"portable": _native._crc32c_portable, "hardware": _native._crc32c_hardware,
                   "dispatch": _native.crc32c}


def reference_crc32c(data: bytes, crc: int = 0) -> int:
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_standard_check_value(impl):
    assert IMPLEMENTATIONS[impl](CHECK_INPUT) == CHECK_VALUE


def test_hardware_path_is_used_when_cpu_has_sse42():
    has_sse42 = "sse4_2" in open("/proc/cpuinfo").read()
    assert _native.crc32c_hardware_available() == has_sse42
    assert _native.crc32c_path() == ("sse4.2" if has_sse42 else "portable")


# Lengths around the interleaving thresholds (3 x 256 and 3 x 8192 bytes) and alignment edges.
LENGTHS = [0, 1, 7, 8, 9, 63, 255, 767, 768, 769, 1000, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 1, 100_003]
# Around the three interleaving tiers together (3 x 64, 3 x 256, 3 x 8192 bytes: what a longer tier
# leaves goes to the next) and a record of the read benchmark's layout (3656 bytes).
TIER_LENGTHS = [191, 192, 193, 200, 383, 384, 575, 576, 767, 768, 959, 960, 3 * 256 + 3 * 64 - 1, 3655, 3656, 3657,
                3 * 8192 + 191, 3 * 8192 + 192, 3 * 8192 + 3 * 256 + 3 * 64 + 7]


@pytest.mark.parametrize("impl", ["portable", "hardware"])
def test_matches_bitwise_reference(impl):
    rng = np.random.default_rng(1)
    fn = IMPLEMENTATIONS[impl]
    for n in LENGTHS[:9] + [1000, 192, 193, 575, 959, 3656]:
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert fn(data) == reference_crc32c(data), n


@pytest.mark.parametrize("offset", [0, 1, 3, 4, 5, 7])
def test_implementations_agree_on_long_unaligned_buffers(offset):
    rng = np.random.default_rng(offset)
    for n in LENGTHS + TIER_LENGTHS:
        buf = rng.integers(0, 256, n + offset, dtype=np.uint8).tobytes()
        view = memoryview(buf)[offset:]
        values = {name: fn(view) for name, fn in IMPLEMENTATIONS.items()}
        assert len(set(values.values())) == 1, (n, values)


def test_continuation():
    a, b = os.urandom(5000), os.urandom(30000)
    for fn in IMPLEMENTATIONS.values():
        assert fn(b, fn(a)) == fn(a + b)


def test_any_buffer_protocol_object():
    data = np.arange(1000, dtype=np.float32)
    expected = crc32c(data.tobytes())
    assert crc32c(data) == expected
    assert crc32c(memoryview(data.tobytes())) == expected
    assert crc32c(bytearray(data.tobytes())) == expected


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(TypeError, match="bytes-like"):
        crc32c("a string")
    with pytest.raises((ValueError, BufferError)):
        crc32c(np.arange(100)[::2])  # not contiguous


def test_masking_round_trip():
    for value in [0, 1, CHECK_VALUE, 0xFFFFFFFF]:
        assert _native.unmask_crc32c(_native.mask_crc32c(value)) == value
    assert masked_crc32c(CHECK_INPUT) == _native.mask_crc32c(CHECK_VALUE)


def test_portable_path_forced_by_environment(python_runner):
    out = python_runner("from tfforge import _native; print(_native.crc32c_path(), hex(_native.crc32c(b'123456789')))",
                        env={"TFFORGE_CRC32C": "portable"}, block_tensorflow=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["portable", hex(CHECK_VALUE)]


def test_framing_crcs_match_tfrecordwriter(tmp_path):
    tf = pytest.importorskip("tensorflow")
    payloads = [b"", b"x", os.urandom(3000), os.urandom(70000)]
    path = str(tmp_path / "tf.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for p in payloads:
            writer.write(p)
    raw = open(path, "rb").read()
    pos = 0
    for p in payloads:
        length_bytes = raw[pos:pos + 8]
        (length,) = struct.unpack("<Q", length_bytes)
        (length_crc,) = struct.unpack("<I", raw[pos + 8:pos + 12])
        data = raw[pos + 12:pos + 12 + length]
        (data_crc,) = struct.unpack("<I", raw[pos + 12 + length:pos + 16 + length])
        assert length == len(p) and data == p
        for fn in IMPLEMENTATIONS.values():
            assert _native.mask_crc32c(fn(length_bytes)) == length_crc
            assert _native.mask_crc32c(fn(data)) == data_crc
        pos += 16 + length
    assert pos == len(raw)
