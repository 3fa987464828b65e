"""TensorFlow checkpoints without TensorFlow: read, write, compare, edit and convert tensor bundles.

    ckpt = tfforge.checkpoint.open("train/model.ckpt-1000")   # a prefix, its .index, or a directory
    ckpt.names(); ckpt.dtype("w"); ckpt.shape("w"); ckpt.read("w")   # numpy, CRC-checked
    tfforge.checkpoint.write("out/model", {"w": array, ...})    # TF reads it with tf.train.load_checkpoint

The native engine (cc/checkpoint, `tfforge._native.CheckpointReader`/`CheckpointWriter`) parses the
.index table with its block checksums, memory-maps the .data shards, checks each tensor's CRC32C
and reassembles partitioned variables. Corrupt input raises tfforge.errors.CheckpointError naming
the file, the tensor and the byte offset."""

from __future__ import annotations

import builtins
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tfforge import _native
from tfforge.checkpoint import _dtypes
from tfforge.errors import CheckpointError

if TYPE_CHECKING:  # numpy is imported by the functions that make or take arrays: `ckpt ls` needs none
    import numpy as np

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

__all__ = ["Checkpoint", "TensorInfo", "Writer", "open", "write", "resolve_prefix", "OBJECT_GRAPH_KEY"]


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str           # TensorFlow's name: float32, bfloat16, string, ...
    shape: tuple
    nbytes: int          # value bytes (stored bytes for strings)
    partitioned: bool    # stored as slices (a partitioned variable)


def resolve_prefix(path: str | os.PathLike) -> str:
    """The checkpoint prefix for PREFIX, PREFIX.index, PREFIX.data-*, or a directory whose
    `checkpoint` state file names the latest checkpoint (tfforge.formats, the one format detector)."""
    from tfforge.formats import checkpoint_prefix
    return checkpoint_prefix(path)


def _unescape(s: str) -> str:
    return s.encode("latin-1", "backslashreplace").decode("unicode_escape").encode("latin-1").decode("utf-8", "replace")


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace('"', '\\"')


class Checkpoint:
    """A checkpoint opened for reading; tensors are read on demand."""

    def __init__(self, path: str | os.PathLike):
        self.prefix = resolve_prefix(path)
        self._r = _native.CheckpointReader(self.prefix)
        self._names = self._r.names()

    def names(self) -> list[str]:
        return list(self._names)

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: str) -> bool:
        return name in self._r

    @property
    def num_shards(self) -> int:
        return self._r.header()["num_shards"]

    def entry(self, name: str) -> dict:
        """The raw index entry: dtype number, shape, shard, offset, size, crc32c, slices, nbytes."""
        return self._r.entry(name)

    def info(self, name: str) -> TensorInfo:
        e = self._r.entry(name)
        return TensorInfo(name, _dtypes.name(e["dtype"]), tuple(e["shape"]), e["nbytes"], bool(e["slices"]))

    def dtype(self, name: str) -> np.dtype:
        return _dtypes.to_numpy(self._r.entry(name)["dtype"])

    def dtype_name(self, name: str) -> str:
        return _dtypes.name(self._r.entry(name)["dtype"])

    def shape(self, name: str) -> tuple:
        return tuple(self._r.entry(name)["shape"])

    def read(self, name: str) -> np.ndarray:
        """The tensor as a new numpy array (strings and variants: an object array of bytes)."""
        e = self._r.entry(name)
        if e["dtype"] in (_dtypes.STRING, _dtypes.VARIANT):
            import numpy as np
            out = np.empty(len(elems := self._r.read_elements(name)), dtype=object)
            out[:] = elems
            return out.reshape(e["shape"])
        dtype = _dtypes.to_numpy(e["dtype"])
        return self._r.read_bytes(name).view(dtype).reshape(e["shape"])

    def view(self, name: str) -> np.ndarray:
        """A read-only numpy view of the tensor's stored bytes, without a copy, when the tensor is
        stored whole and its data shard cannot change under the view (a shard under 16 MiB, held in
        memory, or an immutable file); otherwise a CRC-checked copy as read() returns. A view of a
        mapped file that another process truncates or rewrites would show zeros or other values
        after every check had passed, so such tensors are copied."""
        e = self._r.entry(name)
        if e["dtype"] not in (_dtypes.STRING, _dtypes.VARIANT):
            raw = self._r.stored_view(name)
            if raw is not None:
                arr = raw.view(_dtypes.to_numpy(e["dtype"])).reshape(e["shape"])
                arr.setflags(write=False)
                return arr
        return self.read(name)

    def stored(self, name: str):
        """The tensor's stored bytes as a range of its data shard (`tfforge._native.StoredBytes`), read
        only when a graph writer streams them out (CRC32C-checked on the bytes it writes); None when
        the tensor is sliced, byte-swapped or of strings. For freezing without holding the weights."""
        return self._r.stored_range(name)

    def object_graph(self) -> bytes | None:
        """The serialized TrackableObjectGraph of a TF2 checkpoint, None for a TF1 checkpoint."""
        if OBJECT_GRAPH_KEY not in self._r:
            return None
        return bytes(self.read(OBJECT_GRAPH_KEY).reshape(-1)[0])

    def __repr__(self) -> str:
        return f"<tfforge.checkpoint.Checkpoint {self.prefix!r}: {len(self._names)} tensors>"


def open(path: str | os.PathLike) -> Checkpoint:  # noqa: A001  (tfforge.checkpoint.open mirrors io.open)
    return Checkpoint(path)


def _elements(arr: np.ndarray) -> list:
    import numpy as np
    out = []
    for v in arr.reshape(-1):
        if isinstance(v, str):
            v = v.encode("utf-8")
        elif not isinstance(v, (bytes, bytearray, memoryview, np.bytes_)):
            raise CheckpointError(f"string tensor element of type {type(v).__name__} (expected bytes or str)")
        out.append(bytes(v))
    return out


class Writer:
    """Builds a checkpoint tensor by tensor; nothing is visible at PREFIX until close()."""

    def __init__(self, prefix: str | os.PathLike, *, state_file: bool = True):
        self.prefix = os.fspath(prefix)
        directory = os.path.dirname(os.path.abspath(self.prefix))
        os.makedirs(directory, exist_ok=True)
        self._w = _native.CheckpointWriter(self.prefix)
        self._state_file = state_file

    def add(self, name: str, value, dtype: str | None = None) -> None:
        """Adds a tensor from a numpy array (or anything np.asarray takes). `dtype` is TensorFlow's
        name when it cannot be told from the array ('variant' for serialized variants)."""
        import numpy as np
        arr = np.asarray(value)
        number = _dtypes.number(dtype) if dtype else _dtypes.from_numpy(arr.dtype)
        if number in (_dtypes.STRING, _dtypes.VARIANT):
            self._w.add_elements(name, number, list(arr.shape), _elements(arr))
            return
        shape = list(arr.shape)  # before ascontiguousarray, which makes a scalar 1-d
        arr = np.ascontiguousarray(arr, dtype=_dtypes.to_numpy(number).newbyteorder("<"))
        self._w.add(name, number, shape, arr.reshape(-1).view(np.uint8))

    def close(self) -> str:
        self._w.finish()
        if self._state_file:
            write_state(self.prefix)
        return self.prefix

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        # on an error the native writer removes its temporary files when collected
        self._w = None


def write(prefix: str | os.PathLike, tensors, *, state_file: bool = True) -> str:
    """Writes {name: array} as a TensorFlow V2 checkpoint at PREFIX (PREFIX.index and
    PREFIX.data-00000-of-00001), plus a `checkpoint` state file beside it naming it as the latest."""
    with Writer(prefix, state_file=state_file) as w:
        for name, value in tensors.items():
            w.add(name, value)
    return os.fspath(prefix)


def write_state(prefix: str) -> None:
    """Points the `checkpoint` state file in PREFIX's directory at PREFIX, keeping the paths it lists."""
    directory = os.path.dirname(os.path.abspath(prefix))
    state = os.path.join(directory, "checkpoint")
    base = os.path.basename(prefix)
    paths = []
    if os.path.isfile(state):
        with builtins.open(state, encoding="utf-8", errors="replace") as f:
            paths = [_unescape(p) for p in re.findall(r'^all_model_checkpoint_paths:\s*"((?:[^"\\]|\\.)*)"', f.read(), re.M)]
    paths = [p for p in paths if p != base] + [base]
    text = f'model_checkpoint_path: "{_escape(base)}"\n' + "".join(
        f'all_model_checkpoint_paths: "{_escape(p)}"\n' for p in paths)
    from tfforge._io import write_text
    write_text(state, text)
