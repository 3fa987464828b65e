"""Frames one sample record the way TFRecord does and shows its CRCs."""

import struct

from tfforge import _native

SAMPLE = b"tfforge: TFRecord framing is a uint64 length, its masked CRC32C, the data, the data's masked CRC32C."


def demo_step(workdir: str) -> str:
    length = struct.pack("<Q", len(SAMPLE))
    return "\n".join([
        f"sample: {len(SAMPLE)} bytes",
        f"crc32c(sample)        = 0x{_native.crc32c(SAMPLE):08x}  (path: {_native.crc32c_path()})",
        f"masked_crc32c(length) = 0x{_native.masked_crc32c(length):08x}",
        f"masked_crc32c(sample) = 0x{_native.masked_crc32c(SAMPLE):08x}",
        f"check value crc32c(b'123456789') = 0x{_native.crc32c(b'123456789'):08x} (standard: 0xe3069283)",
    ])
