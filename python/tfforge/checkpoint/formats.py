"""Checkpoint <-> .npz / .safetensors. String and variant tensors (e.g. the TF2 object graph) have no
place in either format and are listed as skipped; .npz has no bfloat16/float8, so those are widened
to float32 (exactly) and listed."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field

import numpy as np

from tfforge.checkpoint import Checkpoint, Writer, _dtypes
from tfforge._io import atomic_write
from tfforge.errors import CheckpointError

FORMATS = ("npz", "safetensors")

# safetensors dtype codes -> numpy (ml_dtypes names for the kinds numpy lacks)
_SAFETENSORS = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64",
                "U64": "uint64", "I32": "int32", "U32": "uint32", "I16": "int16", "U16": "uint16", "I8": "int8",
                "U8": "uint8", "BOOL": "bool", "C64": "complex64", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}

# kinds numpy's .npy format cannot name, and the standard dtype that holds each exactly
_NPZ_WIDEN = {"bfloat16": np.float32, "float8_e5m2": np.float32, "float8_e4m3fn": np.float32,
              "float8_e4m3fnuz": np.float32, "float8_e4m3b11fnuz": np.float32, "float8_e5m2fnuz": np.float32,
              "int4": np.int8, "int2": np.int8, "uint4": np.uint8, "uint2": np.uint8}


@dataclass
class Report:
    tensors: int = 0
    skipped: list[str] = field(default_factory=list)   # strings and variants
    widened: list[str] = field(default_factory=list)   # bfloat16/float8 stored as float32 in .npz


def guess_format(path: str, given: str | None) -> str:
    if given:
        return given
    for fmt in FORMATS:
        if path.endswith("." + fmt):
            return fmt
    raise CheckpointError(f"cannot tell the format from the file name; pass --to/--from {'|'.join(FORMATS)}", path=path)


def _safetensors():
    try:
        import safetensors
        import safetensors.numpy
    except ImportError:
        raise CheckpointError("safetensors files need the safetensors package (pip install safetensors)") from None
    return safetensors


def export(src: str, dst: str, fmt: str | None = None) -> Report:
    fmt = guess_format(dst, fmt)
    ckpt, report = Checkpoint(src), Report()
    numeric = []
    for name in ckpt.names():
        if ckpt.entry(name)["dtype"] in (_dtypes.STRING, _dtypes.VARIANT):
            report.skipped.append(name)
        else:
            numeric.append(name)
    if fmt == "npz":
        with atomic_write(dst) as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
            for name in numeric:
                arr = ckpt.view(name)
                wide = _NPZ_WIDEN.get(ckpt.dtype_name(name))
                if wide:
                    arr = arr.astype(wide)
                    report.widened.append(name)
                with z.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asarray(arr, order="C"), allow_pickle=False)
                report.tensors += 1
    else:
        st = _safetensors()
        try:
            data = st.numpy.save({name: np.asarray(ckpt.view(name), order="C") for name in numeric})
        except Exception as exc:  # the package reports unsupported dtypes in its own exception types
            raise CheckpointError(f"safetensors cannot hold these tensors: {exc}", path=dst) from None
        with atomic_write(dst) as f:
            f.write(data)
        report.tensors = len(numeric)
    return report


def _read_npz(path: str):
    try:
        with np.load(path, allow_pickle=False) as npz:
            for name in npz.files:
                yield name, npz[name]
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise CheckpointError(f"not a readable .npz file: {exc}", path=path) from None


def _read_safetensors(path: str):
    st = _safetensors()
    with open(path, "rb") as f:
        data = f.read()
    try:
        tensors = st.deserialize(data)
    except Exception as exc:  # SafetensorError and friends
        raise CheckpointError(f"not a readable .safetensors file: {exc}", path=path) from None
    for name, t in tensors:
        if t["dtype"] not in _SAFETENSORS:
            raise CheckpointError(f"tensor {name!r} has safetensors dtype {t['dtype']}, which checkpoints do not hold",
                                  path=path)
        dtype = _dtypes.to_numpy(_dtypes.number(_SAFETENSORS[t["dtype"]]))
        yield name, np.frombuffer(t["data"], dtype=dtype).reshape(t["shape"])


def import_(src: str, dst: str, fmt: str | None = None) -> Report:
    fmt = guess_format(src, fmt)
    report = Report()
    with Writer(dst) as w:
        for name, arr in (_read_npz(src) if fmt == "npz" else _read_safetensors(src)):
            try:
                w.add(name, arr)
            except CheckpointError as exc:
                raise CheckpointError(f"array {name!r}: {exc.message}", path=src) from None
            report.tensors += 1
    return report
