"""Calibration data for int8 TFLite export: a .npz, a TFRecord prefix written by tfforge.records, or
`random` (a smoke test only)."""

from __future__ import annotations

import glob
import json
import warnings

import numpy as np

from tfforge.errors import ConversionError


def calibration_batches(spec: str, inputs, samples: int = 32) -> list:
    """The calibration samples: a list of batches, each a list of arrays (one per input, batch 1).
    `inputs`: list of TensorInfo (name, shape, dtype) of the model."""
    if spec == "random":
        warnings.warn("calibrating int8 quantization on random data is only a smoke test: the ranges will not "
                      "match real inputs and the accuracy will be poor", stacklevel=3)
        from tfforge.convert.runners import TensorInfo
        from tfforge.convert.verify import sample_inputs
        rows = [TensorInfo(i.name, (None,) + tuple(i.shape[1:]), i.dtype) if i.shape else i for i in inputs]
        feeds = sample_inputs(rows, samples, seed=1)
        batches = [[feeds[i.name][k:k + 1] for i in inputs] for k in range(samples)]
    elif spec.lower().endswith(".npz"):
        from tfforge.convert.verify import load_npz
        feeds = load_npz(spec, inputs)
        n = min(len(v) for v in feeds.values()) if feeds else 0
        batches = [[feeds[i.name][k:k + 1].astype(i.dtype) for i in inputs] for k in range(min(n, samples * 4))]
    else:
        batches = _tfrecord_batches(spec, inputs, samples * 4)
    if not batches:
        raise ConversionError("the representative data has no samples", path=spec)
    return _rebatch(batches, inputs, spec)


def _rebatch(batches, inputs, spec):
    """Samples grouped into the model's batch size when its inputs have a fixed one (--input-shape)."""
    size = inputs[0].shape[0] if inputs and inputs[0].shape else None
    if not size or size == 1:
        return batches
    if len(batches) < size:
        raise ConversionError(f"the representative data has {len(batches)} samples, fewer than the model's fixed "
                              f"batch of {size}", path=spec)
    return [[np.concatenate([b[k] for b in batches[j:j + size]]) for k in range(len(inputs))]
            for j in range(0, len(batches) - size + 1, size)]


def representative_dataset(spec: str, inputs, samples: int = 32):
    """A callable yielding the calibration batches, for TFLiteConverter.representative_dataset."""
    batches = calibration_batches(spec, inputs, samples)

    def generate():
        yield from batches
    return generate


def calibration_feeds(spec: str, inputs, samples: int = 32) -> dict:
    """The calibration samples as one batch per input ({name: array}), so the parity check of an int8
    export runs on the data its ranges were calibrated on."""
    batches = calibration_batches(spec, inputs, samples)
    return {info.name: np.concatenate([batch[k] for batch in batches]) for k, info in enumerate(inputs)}


def _tfrecord_batches(prefix: str, inputs, limit: int):
    """Reads Examples whose features are named like the model inputs from PREFIX* shard files: with
    tfforge.records' native reader (and the spec beside the shards) when it is built in, else tf.data."""
    if not glob.glob(glob.escape(prefix) + "*"):
        raise ConversionError("no such .npz file or TFRecord prefix (no file name starts with it), and not "
                              "`random`", path=prefix)
    try:
        from tfforge.records import read
    except ImportError:
        read = None
    if read is not None:
        try:
            batch = next(iter(read(prefix, batch_size=limit, features=[i.name for i in inputs])))
        except StopIteration:
            return []
        except Exception as exc:
            raise ConversionError(f"records do not hold the model inputs {[i.name for i in inputs]}: {exc}",
                                  path=prefix) from None
        rows = len(batch[inputs[0].name])
        return [[np.asarray(batch[i.name][k], dtype=i.dtype).reshape((1,) + tuple(d for d in i.shape[1:]))
                 for i in inputs] for k in range(rows)]
    from tfforge._tf import tf
    files = sorted(f for f in glob.glob(prefix + "*") if not f.endswith((".json", ".txt")))
    if not files:
        raise ConversionError("no TFRecord files match this prefix (and it is not .npz or `random`)", path=prefix)
    compression = _compression(prefix, files)
    t = tf()
    spec = {}
    for info in inputs:
        shape = [d for d in info.shape[1:]]
        if any(d is None for d in shape):
            raise ConversionError(f"input {info.name!r} has unknown dimensions; give calibration data as .npz")
        dtype = t.float32 if np.issubdtype(info.dtype, np.floating) else t.int64
        spec[info.name] = t.io.FixedLenFeature(shape, dtype)
    batches = []
    for record in t.data.TFRecordDataset(files, compression_type=compression).take(limit):
        try:
            example = t.io.parse_single_example(record, spec)
        except Exception as exc:
            raise ConversionError(f"records do not hold the model inputs {list(spec)}: {exc}", path=prefix) from None
        batches.append([example[i.name].numpy().astype(i.dtype)[None] for i in inputs])
    return batches


def _compression(prefix, files):
    for candidate in glob.glob(prefix + "*.json"):
        try:
            with open(candidate) as f:
                meta = json.load(f)
            value = meta.get("compression") if isinstance(meta, dict) else None
            if value:
                return {"gzip": "GZIP", "zlib": "ZLIB"}.get(str(value).lower(), "")
        except (OSError, ValueError):
            continue
    return "GZIP" if files[0].endswith(".gz") else "ZLIB" if files[0].endswith(".zz") else ""
