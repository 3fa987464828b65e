"""atheris fuzz target for the checkpoint engine (cc/checkpoint): the .index table (blocks, restarts,
trailers, snappy, footer), the header and entry protos, slices, string/variant layouts, the data CRCs
and the object-graph rewrite. Every input must give data or a tfforge error: no crash, hang or other
exception. Named tests/fuzz/<area>.py with its seeds in tests/fuzz/corpus/<area>/, as the sanitizer
script expects; run as
    python tests/fuzz/checkpoint.py -max_total_time=60 WORKDIR tests/fuzz/corpus/checkpoint

An input is one checkpoint: uint32 little-endian length of the .index, the .index bytes, then the
.data-00000-of-00001 bytes (tests/fuzz/corpus/checkpoint holds real ones written by TensorFlow and
tfforge). As the native module is not coverage-instrumented, each run also mutates a seed as the
input directs (bit flips, byte overwrites, truncation, inserted varints) so that mutations reach the
entries and tensors past the block checksums; half of those get their block CRCs recomputed.
"""

import os
import shutil
import struct
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    from tfforge import _native
    from tfforge.errors import TfforgeError

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import edit, seeds  # noqa: E402

CORPUS_DIR = os.path.join(HERE, "corpus", "checkpoint")
SEEDS = seeds(CORPUS_DIR)
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()


def _remove_stale_work_dirs() -> None:
    """libFuzzer ends the process without unwinding, so each run removes the dirs of finished runs."""
    for name in os.listdir(SCRATCH):
        if name.startswith("tfforge-fuzz-checkpoint-"):
            try:
                os.kill(int(name.rsplit("-", 1)[1]), 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(SCRATCH, name), ignore_errors=True)
            except (ValueError, PermissionError):
                pass


_remove_stale_work_dirs()
WORK = os.path.join(SCRATCH, f"tfforge-fuzz-checkpoint-{os.getpid()}")
os.makedirs(WORK, exist_ok=True)
PREFIX = os.path.join(WORK, "m")


def split(blob: bytes):
    if len(blob) < 4:
        return blob, b""
    n = struct.unpack_from("<I", blob)[0]
    return blob[4:4 + n], blob[4 + n:]


def fix_block_crcs(index: bytearray) -> None:
    """Recomputes the trailer CRC of every block the index block and footer point at, when they parse."""
    try:
        def varint(buf, pos):
            v = shift = 0
            while True:
                b = buf[pos]
                pos += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    return v, pos
        end = len(index) - 48
        _, p = varint(index, end)
        _, p = varint(index, p)
        off, p = varint(index, p)
        size, _ = varint(index, p)
        handles = [(off, size)]
        block = index[off:off + size]
        restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
        p, limit = 0, len(block) - 4 - 4 * restarts
        while p < limit:
            _, p = varint(block, p)
            unshared, p = varint(block, p)
            vlen, p = varint(block, p)
            p += unshared
            o, q = varint(block, p)
            s, _ = varint(block, q)
            handles.append((o, s))
            p += vlen
        for o, s in handles:
            crc = _native.mask_crc32c(_native.crc32c(bytes(index[o:o + s + 1])))
            index[o + s + 1:o + s + 5] = struct.pack("<I", crc)
    except (IndexError, struct.error):
        pass


def mutate(data: bytes) -> bytes:
    fdp = atheris.FuzzedDataProvider(data)
    index, payload = (bytearray(x) for x in split(SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]))
    target_index = fdp.ConsumeBool()
    edit(fdp, index if target_index else payload, 6)
    if target_index and fdp.ConsumeBool():
        fix_block_crcs(index)
    return struct.pack("<I", len(index)) + bytes(index) + bytes(payload)


def exercise(blob: bytes) -> None:
    index, data = split(blob)
    with open(PREFIX + ".index", "wb") as f:
        f.write(index)
    with open(PREFIX + ".data-00000-of-00001", "wb") as f:
        f.write(data)
    try:
        r = _native.CheckpointReader(PREFIX)
        r.header()
        for name in r.names()[:32]:
            e = r.entry(name)
            if e["dtype"] in (7, 21):
                elems = r.read_elements(name)
                if name == "_CHECKPOINTABLE_OBJECT_GRAPH" and elems:
                    attrs = _native.object_graph_attributes(elems[0])
                    _native.rewrite_object_graph(elems[0], {a[3]: None for a in attrs[:1]})
            else:
                r.read_bytes(name)
                r.stored_view(name)
    except TfforgeError:
        pass
    for raw in (index, data):
        try:
            _native.rewrite_object_graph(raw, {"x": ("y", "z")})
            _native.object_graph_attributes(raw)
        except TfforgeError:
            pass


def TestOneInput(data: bytes) -> None:
    exercise(data)
    if SEEDS:
        exercise(mutate(data))


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
