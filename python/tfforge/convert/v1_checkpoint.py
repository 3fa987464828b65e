"""TensorFlow's V1 checkpoints (`Saver(write_version=V1)`: one SSTable file per shard, no .index),
read through TensorFlow's own checkpoint reader.

The bundle reader serves V2 checkpoints without TensorFlow; V1 is a legacy format that only
freeze/convert of TF1 graphs meet, and those import TensorFlow anyway."""

from __future__ import annotations

import glob
import os

from tfforge.convert.frozen import contiguous
from tfforge.errors import ConversionError

# The footer of a LevelDB-style table (TensorFlow's lib/io/format.h) ends with this number, little-endian.
_TABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")


def _is_table(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() < 48:
                return False
            f.seek(-8, os.SEEK_END)
            return f.read(8) == _TABLE_MAGIC
    except OSError:
        return False


def shard_files(prefix: str) -> list[str]:
    """The files of the V1 checkpoint PREFIX: PREFIX itself, or PREFIX-?????-of-????? when sharded."""
    prefix = os.fspath(prefix)
    if os.path.isfile(prefix) and not prefix.endswith((".index", ".meta")):
        return [prefix] if _is_table(prefix) else []
    shards = sorted(glob.glob(glob.escape(prefix) + "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]"))
    return shards if shards and all(_is_table(s) for s in shards) else []


def is_v1_checkpoint(prefix: str) -> bool:
    return not os.path.exists(os.fspath(prefix) + ".index") and bool(shard_files(prefix))


class V1Checkpoint:
    """The subset of the bundle reader's interface freeze uses: `key in ckpt`, `get(key)`, `keys()`."""

    def __init__(self, prefix: str):
        from tfforge._tf import tf
        files = shard_files(prefix)
        if not files:
            raise ConversionError("not a V1 checkpoint (no table file at this prefix)", path=prefix)
        pattern = prefix if files == [prefix] else prefix + "-?????-of-" + files[0].rsplit("-of-", 1)[1]
        try:
            self._reader = tf().compat.v1.train.NewCheckpointReader(pattern)
        except Exception as exc:  # DataLossError and friends: one line naming the file
            raise ConversionError(f"cannot read the V1 checkpoint: {str(exc).strip().splitlines()[0]}",
                                  path=prefix) from None
        self.path = prefix
        self._dtypes = self._reader.get_variable_to_dtype_map()

    def __contains__(self, key: str) -> bool:
        return key in self._dtypes

    def keys(self):
        return sorted(self._dtypes)

    def get(self, key: str):
        try:
            return contiguous(self._reader.get_tensor(key))
        except Exception as exc:
            raise ConversionError(f"cannot read tensor {key!r}: {str(exc).strip().splitlines()[0]}",
                                  path=self.path) from None
