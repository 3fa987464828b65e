"""atheris fuzz target for the Example decoder (columns for a spec, spec inference, printing): the
input is one serialized tf.train.Example, framed into a TFRecord with correct CRCs so every input
reaches the decoder (strict and lenient). Any input may raise a tfforge error, nothing else. Run by tools/sanitize.sh as
    python tests/fuzz/example.py -max_total_time=60 WORKDIR tests/fuzz/corpus/example
"""

import os
import sys

import atheris

with atheris.instrument_imports():
    from tfforge import _native
    from tfforge.errors import TfforgeError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import frame, mutate, scratch_file, seeds  # noqa: E402

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "example")
SEEDS = seeds(CORPUS)
PATH = scratch_file("example")
# The seeds' features (see corpus/example), fixed and variable length, with and without defaults.
SPECS = [
    [("label", "int64", 1, None, False), ("score", "float", -1, None, False), ("text", "bytes", -1, None, True)],
    [("label", "int64", -1, None, False), ("score", "float", 2, [0.0, 1.0], False), ("text", "bytes", 1, [b"x"], False)],
    [("missing", "bytes", 1, None, False)],
]


def decode_all(example: bytes) -> None:
    with open(PATH, "wb") as f:
        f.write(frame(example) + frame(example))
    for spec in SPECS:
        for skip_corrupt, strict in ((False, True), (True, True), (False, False)):
            try:
                d = _native.ExampleDecoder(spec, strict)
                _native.RecordReader(PATH, "none", True, skip_corrupt, 1 << 20).decode(d, 4)
                d.finish()
            except TfforgeError:
                pass
    for step in (lambda r: r.scan(4), lambda r: r.parse(4)):
        try:
            step(_native.RecordReader(PATH, "none", True, False, 1 << 20))
        except TfforgeError:
            pass


def TestOneInput(data: bytes) -> None:
    decode_all(data)
    decode_all(mutate(atheris.FuzzedDataProvider(data), SEEDS))


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    try:
        atheris.Fuzz()
    finally:
        if os.path.exists(PATH):
            os.unlink(PATH)
