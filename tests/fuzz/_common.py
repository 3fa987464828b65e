"""Shared by the fuzz targets in this directory (see docs/fuzzing.md): TFRecord framing and the
corpus mutation that keeps valid structure mostly intact.

Each target is a script `tests/fuzz/<area>.py` defining CORPUS (a directory of seed inputs) and
TestOneInput; tools/sanitize.sh runs every such script under AddressSanitizer and UBSan.
"""

from __future__ import annotations

import os
import struct

from tfforge import _native


def frame(record: bytes) -> bytes:
    """One TFRecord: length, masked CRC of the length, data, masked CRC of the data."""
    length = struct.pack("<Q", len(record))
    return (length + struct.pack("<I", _native.masked_crc32c(length)) + record +
            struct.pack("<I", _native.masked_crc32c(record)))


def seeds(corpus: str) -> list[bytes]:
    return [open(os.path.join(corpus, f), "rb").read() for f in sorted(os.listdir(corpus))]


def mutate(fdp, seed_list: list[bytes]) -> bytes:
    """A seed picked and mutated as the fuzz input directs (see edit). The native code is not
    coverage-instrumented (gcc), so this reaches deeper than libFuzzer's blind mutations of the raw
    input would."""
    buf = bytearray(seed_list[fdp.ConsumeIntInRange(0, len(seed_list) - 1)])
    edit(fdp, buf, 8)
    return bytes(buf)


def edit(fdp, buf: bytearray, max_edits: int) -> None:
    """1..max_edits edits of buf in place, as the fuzz input directs: bit flips, byte overwrites,
    truncation, spliced-in long varints and inserted bytes."""
    for _ in range(fdp.ConsumeIntInRange(1, max_edits)):
        if not buf:
            break
        pos = fdp.ConsumeIntInRange(0, len(buf) - 1)
        op = fdp.ConsumeIntInRange(0, 4)
        if op == 0:
            buf[pos] ^= 1 << fdp.ConsumeIntInRange(0, 7)
        elif op == 1:
            buf[pos] = fdp.ConsumeIntInRange(0, 255)
        elif op == 2:
            del buf[pos:]
        elif op == 3:
            buf[pos:pos] = bytes([0xff] * fdp.ConsumeIntInRange(1, 10)) + b"\x01"
        else:
            buf[pos:pos + 1] = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 6))


def scratch_file(name: str) -> str:
    """A per-process file for inputs the API reads from a path (tmpfs when there is one)."""
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else "/tmp"
    return os.path.join(base, f"tfforge-fuzz-{name}-{os.getpid()}")
