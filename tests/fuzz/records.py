"""atheris fuzz target for the TFRecord reader (framing, CRCs, gzip/zlib streams, recovery mode):
any input may raise a tfforge error, nothing else. Run by tools/sanitize.sh as
    python tests/fuzz/records.py -max_total_time=60 WORKDIR tests/fuzz/corpus/records
"""

import os
import sys

import atheris

with atheris.instrument_imports():
    from tfforge import _native
    from tfforge.errors import TfforgeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import mutate, scratch_file, seeds  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "records")
SEEDS = seeds(CORPUS)
PATH = scratch_file("records")


def read_all(data: bytes) -> None:
    with open(PATH, "wb") as f:
        f.write(data)
    for compression in ("auto", "none", "gzip", "zlib"):
        for skip_corrupt in (False, True):
            try:
                r = _native.RecordReader(PATH, compression, True, skip_corrupt, 1 << 20)
                while r.read(16):
                    pass
                r.skipped
            except TfforgeError:
                pass
    for step in (lambda: _native.count_records(PATH, "auto"), lambda: _native.verify_file(PATH, "auto", True)):
        try:
            step()
        except TfforgeError:
            pass


def TestOneInput(data: bytes) -> None:
    read_all(data)
    read_all(mutate(atheris.FuzzedDataProvider(data), SEEDS))


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    try:
        atheris.Fuzz()
    finally:
        if os.path.exists(PATH):
            os.unlink(PATH)
