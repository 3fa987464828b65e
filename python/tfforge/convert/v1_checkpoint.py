"""TensorFlow's V1 checkpoints (`Saver(write_version=V1)`: one table file per shard, no .index), read
through TensorFlow's own checkpoint reader. tfforge.formats finds them; this reads them.

tfforge.checkpoint serves V2 checkpoints without TensorFlow; V1 is a legacy format that only
freeze/convert of TF1 graphs meet, and those import TensorFlow anyway."""

from __future__ import annotations

from tfforge.convert.frozen import contiguous
from tfforge.errors import ConversionError
from tfforge.formats import v1_checkpoint_files


def is_v1_checkpoint(prefix: str) -> bool:
    return bool(v1_checkpoint_files(prefix))


class V1Checkpoint:
    """The subset of tfforge.checkpoint.Checkpoint's interface freeze uses: `key in ckpt`, `view(key)`,
    `keys()`."""

    def __init__(self, prefix: str):
        from tfforge._tf import tf
        files = v1_checkpoint_files(prefix)
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

    def view(self, key: str):
        try:
            return contiguous(self._reader.get_tensor(key))
        except Exception as exc:
            raise ConversionError(f"cannot read tensor {key!r}: {str(exc).strip().splitlines()[0]}",
                                  path=self.path) from None
