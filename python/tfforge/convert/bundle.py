"""Reads tensors of a TensorFlow checkpoint (tensor bundle: PREFIX.index + PREFIX.data-*-of-*).

The .index is a LevelDB-format table mapping tensor names to BundleEntryProto (dtype, shape, shard,
offset, size, crc32c); numeric tensors are returned as numpy views of the memory-mapped data shard,
checked against their CRC32C, so freezing reads each weight once, when the native splicer writes it.
Strings, sliced (partitioned) tensors and compressed tables go through TensorFlow's CheckpointReader."""

from __future__ import annotations

import os
import struct

import numpy as np

from tfforge.errors import ConversionError

_TABLE_MAGIC = 0xDB4775248B80FB57
_FOOTER = 48


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _block_entries(data, offset, size, path):
    """(key, value) of one table block; keys are prefix-compressed against the previous key."""
    if offset + size + 5 > len(data):
        raise ConversionError("table block runs past the end of the index", path=path, offset=offset)
    if data[offset + size] != 0:
        raise NotImplementedError("compressed index block")
    block = data[offset:offset + size]
    restarts = struct.unpack_from("<I", block, len(block) - 4)[0]
    end = len(block) - 4 - 4 * restarts
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + bytes(block[pos:pos + unshared])
        pos += unshared
        yield key, bytes(block[pos:pos + length])
        pos += length


def read_index(path: str) -> dict:
    """{tensor name: BundleEntryProto} plus the header under ''."""
    from tensorflow.core.protobuf import tensor_bundle_pb2
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < _FOOTER or struct.unpack_from("<Q", data, len(data) - 8)[0] != _TABLE_MAGIC:
        raise ConversionError("not a checkpoint index (bad table magic)", path=path, offset=max(0, len(data) - 8))
    footer = data[len(data) - _FOOTER:]
    _, pos = _varint(footer, 0)          # metaindex offset
    _, pos = _varint(footer, pos)        # metaindex size
    index_offset, pos = _varint(footer, pos)
    index_size, pos = _varint(footer, pos)
    entries = {}
    for _, handle in _block_entries(data, index_offset, index_size, path):
        offset, p = _varint(handle, 0)
        size, _ = _varint(handle, p)
        for key, value in _block_entries(data, offset, size, path):
            if key == b"":
                header = tensor_bundle_pb2.BundleHeaderProto()
                header.ParseFromString(value)
                entries[""] = header
            else:
                entry = tensor_bundle_pb2.BundleEntryProto()
                entry.ParseFromString(value)
                entries[key.decode("utf-8", "replace")] = entry
    return entries


class Bundle:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self._reader = None
        self._maps = {}
        try:
            self._entries = read_index(prefix + ".index")
            self._header = self._entries.pop("", None)
        except (NotImplementedError, ValueError, struct.error):
            self._entries = None
        if self._entries is None:
            self._open_reader()
            self._shapes = self._reader.get_variable_to_shape_map()

    def _open_reader(self):
        from tensorflow.python.training import py_checkpoint_reader
        from tfforge._tf import tf
        tf()
        if self._reader is None:
            try:
                self._reader = py_checkpoint_reader.NewCheckpointReader(self.prefix)
            except Exception as exc:
                raise ConversionError(f"cannot read checkpoint: {exc}", path=self.prefix) from None
        return self._reader

    def __contains__(self, key: str) -> bool:
        return key in (self._entries if self._entries is not None else self._shapes)

    def keys(self):
        return sorted(self._entries if self._entries is not None else self._shapes)

    def shape(self, key):
        if self._entries is None:
            return tuple(self._shapes[key])
        return tuple(d.size for d in self._entries[key].shape.dim)

    def dtype(self, key):
        from tfforge._tf import tf
        if self._entries is None:
            return self._reader.get_variable_to_dtype_map()[key]
        return tf().dtypes.as_dtype(self._entries[key].dtype)

    def get_object(self, key: str):
        """A tensor as TensorFlow's reader returns it (bytes for a string scalar)."""
        return self._open_reader().get_tensor(key)

    def get(self, key: str) -> np.ndarray:
        from tfforge.convert.frozen import contiguous
        entry = self._entries.get(key) if self._entries is not None else None
        if entry is None or entry.slices or self.dtype(key).name in ("string", "resource", "variant") \
                or (self._header is not None and self._header.endianness != 0):
            return contiguous(self._open_reader().get_tensor(key))
        dtype = np.dtype(self.dtype(key).as_numpy_dtype)
        shape = self.shape(key)
        if int(np.prod(shape, dtype=np.int64)) * dtype.itemsize != entry.size:
            raise ConversionError(f"index entry of {key!r} has {entry.size} bytes for shape {shape} {dtype}",
                                  path=self.prefix + ".index")
        mapped = self._shard(entry.shard_id)
        if entry.offset + entry.size > len(mapped):
            raise ConversionError(f"tensor {key!r} runs past the end of its data shard", path=self.prefix,
                                  offset=entry.offset)
        view = np.ndarray(shape, dtype, buffer=mapped, offset=entry.offset) if entry.size else np.zeros(shape, dtype)
        self._check_crc(key, entry, mapped)
        return view

    def _check_crc(self, key, entry, mapped):
        from tfforge import _native
        if not entry.size:
            return
        crc = _native.crc32c(memoryview(mapped)[entry.offset:entry.offset + entry.size])
        if entry.crc32c not in (crc, _native.mask_crc32c(crc)):
            raise ConversionError(f"tensor {key!r} fails its CRC32C check (corrupt data shard)",
                                  path=self._shard_path(entry.shard_id), offset=entry.offset)

    def _shard_path(self, shard):
        shards = self._header.num_shards if self._header is not None else 1
        return f"{self.prefix}.data-{shard:05d}-of-{shards:05d}"

    def _shard(self, shard):
        if shard not in self._maps:
            path = self._shard_path(shard)
            if not os.path.exists(path):
                raise ConversionError("checkpoint data shard is missing", path=path)
            self._maps[shard] = np.memmap(path, mode="r") if os.path.getsize(path) else np.zeros(0, np.uint8)
        return self._maps[shard]


def open_bundle(prefix: str) -> Bundle:
    return Bundle(prefix)
