"""The fast paths of records.read's ordered parallel reader (cc/record/batch_pipeline.cc,
cc/python/bind_records_pipeline.cc) and of CRC32C (cc/record/crc32c.cc): the same values as the slow
paths and as a bitwise reference."""

import numpy as np
import pytest

from tfforge import _native


def _reference_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


# Around the three interleaving tiers (3 x 64, 3 x 256 and 3 x 8192 bytes) and a record of the
# benchmark's layout (3656 bytes), at several alignments.
CRC_LENGTHS = [191, 192, 193, 200, 383, 384, 575, 576, 767, 768, 959, 960, 3 * 256 + 3 * 64 - 1, 3655, 3656, 3657,
               3 * 8192 + 191, 3 * 8192 + 192, 3 * 8192 + 3 * 256 + 3 * 64 + 7]


@pytest.mark.parametrize("offset", [0, 1, 4, 7])
def test_crc32c_interleaving_tiers_match_the_portable_path(offset):
    rng = np.random.default_rng(offset)
    for n in CRC_LENGTHS:
        buf = rng.integers(0, 256, n + offset, dtype=np.uint8).tobytes()
        view = memoryview(buf)[offset:]
        assert _native._crc32c_hardware(view) == _native._crc32c_portable(view), n


def test_crc32c_interleaving_tiers_match_a_bitwise_reference():
    rng = np.random.default_rng(9)
    for n in (192, 193, 575, 959, 3656):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        assert _native._crc32c_hardware(data) == _reference_crc32c(data), n
