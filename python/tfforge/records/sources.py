"""Conversion sources: .npz, pandas pickles/DataFrames, Parquet, CSV, Arrow IPC (through pyarrow), and
image folders (one sub-folder per class). Each yields column batches for ``write``, plus what the spec
should say about them (explicit spec, class table)."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from tfforge.errors import SpecError, TfforgeError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IMAGES_PER_SHARD = 1000
_TABLE_BATCH_ROWS = 65536


@dataclass
class Source:
    batches: Iterator             # of column batches (dict / DataFrame / pyarrow Table or RecordBatch)
    rows: int | None = None       # when known up front
    metadata: dict = field(default_factory=dict)
    records_per_shard: int | None = None  # the source's default shard size, if it has one
    kind: str = ""


def _npz(path: str) -> Source:
    with np.load(path, allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    lengths = {k: len(v) for k, v in data.items()}
    if len(set(lengths.values())) > 1:
        raise SpecError(f"arrays have different lengths: {lengths}", path=path)
    return Source(iter([data]), next(iter(lengths.values()), 0), kind="npz")


def _parquet(path: str) -> Source:
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    return Source(f.iter_batches(batch_size=_TABLE_BATCH_ROWS), f.metadata.num_rows, kind="parquet")


def _csv(path: str) -> Source:
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=16 << 20))
    return Source(iter(reader), None, kind="csv")


def _arrow(path: str) -> Source:
    import pyarrow as pa

    try:
        f = pa.ipc.open_file(path)
        return Source((f.get_batch(i) for i in range(f.num_record_batches)), None, kind="arrow")
    except pa.ArrowInvalid:
        return Source(iter(pa.ipc.open_stream(path)), None, kind="arrow stream")


def _pandas_pickle(path: str) -> Source:
    import pandas as pd

    df = pd.read_pickle(path)
    return Source(iter([df]), len(df), kind="pandas")


def _parse_size(resize) -> tuple | None:
    if resize is None:
        return None
    if isinstance(resize, int):
        return (resize, resize)
    if isinstance(resize, str):
        parts = resize.lower().split("x")
        if len(parts) == 1:
            parts = parts * 2
        try:
            return (int(parts[0]), int(parts[1]))
        except ValueError:
            raise SpecError(f"resize must be HxW (e.g. 224x224), got {resize!r}") from None
    return (int(resize[0]), int(resize[1]))


def _image_record(path: str, size, fmt, quality):
    from PIL import Image

    with open(path, "rb") as f:
        raw = f.read()
    try:
        with Image.open(path) as im:
            if size is None and fmt is None:
                return raw, im.height, im.width
            if size is not None:
                im = im.convert("RGB") if im.mode not in ("RGB", "L") else im
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            out_fmt = (fmt or im.format or "PNG").upper().replace("JPG", "JPEG")
            if out_fmt == "JPEG" and im.mode not in ("RGB", "L"):
                im = im.convert("RGB")
            import io

            buf = io.BytesIO()
            im.save(buf, format=out_fmt, **({"quality": quality} if out_fmt == "JPEG" else {}))
            return buf.getvalue(), im.height, im.width
    except OSError as exc:
        raise TfforgeError(f"cannot read image: {exc}", path=path) from None


def _images(root: str, *, resize=None, image_format=None, quality: int = 95, workers=None,
            batch_rows: int = 256) -> Source:
    try:
        import PIL  # noqa: F401
    except ImportError:
        raise TfforgeError("image folders need Pillow: pip install pillow (or, from tfforge's source directory: pip install --no-build-isolation '.[images]')") from None
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)) and not d.startswith("."))
    if not classes:
        raise SpecError("an image folder needs one sub-folder per class", path=root)
    files, stray = [], []
    for label, cls in enumerate(classes):
        for dirpath, dirnames, names in os.walk(os.path.join(root, cls)):
            dirnames.sort()
            for n in sorted(names):
                if n.lower().endswith(IMAGE_EXTENSIONS):
                    files.append((os.path.join(dirpath, n), label))
                elif not n.startswith("."):  # hidden files (.DS_Store, ...) are not data
                    stray.append(os.path.join(dirpath, n))
    if stray:
        shown = ", ".join(os.path.relpath(p, root) for p in stray[:5])
        more = f" and {len(stray) - 5} more" if len(stray) > 5 else ""
        warnings.warn(f"{root}: skipped {len(stray)} file(s) that are not images by their extension "
                      f"({', '.join(IMAGE_EXTENSIONS)}): {shown}{more}", UserWarning, stacklevel=3)
    size = _parse_size(resize)

    def batches():
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count()) as pool:  # Pillow releases the GIL
            for start in range(0, len(files), batch_rows):
                chunk = files[start:start + batch_rows]
                done = list(pool.map(lambda f: _image_record(f[0], size, image_format, quality), chunk))
                yield {
                    "image": [d[0] for d in done],
                    "label": np.array([f[1] for f in chunk], dtype=np.int64),
                    "height": np.array([d[1] for d in done], dtype=np.int64),
                    "width": np.array([d[2] for d in done], dtype=np.int64),
                    "filename": [os.path.relpath(f[0], root) for f in chunk],
                }

    meta = {"classes": classes, "source": "image folder"}
    if image_format or size:
        meta["image_format"] = (image_format or "original").lower()
    return Source(batches(), len(files), meta, IMAGES_PER_SHARD, kind="images")


def open_source(src, **options) -> Source:
    """A Source from a path (by extension; a folder is an image folder) or a DataFrame / Table / dict."""
    if not isinstance(src, (str, os.PathLike)):
        from tfforge.records._columns import is_batch

        if is_batch(src):
            return Source(iter([src]), None, kind=type(src).__name__)
        raise SpecError(f"cannot convert a {type(src).__name__}")
    path = os.fspath(src)
    if os.path.isdir(path):
        return _images(path, **options)
    if not os.path.exists(path):
        raise TfforgeError("no such file or folder", path=path)
    image_opts = {k for k, v in options.items() if v is not None and k != "workers"}
    if image_opts:
        raise SpecError(f"options {sorted(image_opts)} apply to image folders only", path=path)
    ext = path.lower().rsplit(".", 1)[-1] if "." in os.path.basename(path) else ""
    openers = {"npz": _npz, "parquet": _parquet, "pq": _parquet, "csv": _csv, "arrow": _arrow,
               "feather": _arrow, "ipc": _arrow, "arrows": _arrow, "pkl": _pandas_pickle, "pickle": _pandas_pickle}
    if ext not in openers:
        raise SpecError(f"unknown source type '.{ext}' (known: .npz, .parquet, .csv, .arrow/.feather, .pkl, "
                        "or a folder of images)", path=path)
    return openers[ext](path)


def convert(src, prefix, *, shards: int | None = None, records_per_shard: int | None = None, compression=None,
            spec=None, workers=None, progress: bool = True, resize=None, image_format=None, quality: int = 95,
            level: int = -1, sequence=()) -> list[str]:
    """Converts a file or folder (see open_source) into TFRecord shards + spec; returns the shard paths.

    Image folders default to about 1000 images per shard; other sources to one shard. sequence: nested
    list columns (e.g. Parquet list<list<...>>) to write as SequenceExample feature lists."""
    from tfforge.records.writer import write

    image_opts = {"resize": resize, "image_format": image_format, "workers": workers}
    is_images = isinstance(src, (str, os.PathLike)) and os.path.isdir(os.fspath(src))
    source = open_source(src, **(dict(image_opts, quality=quality) if is_images else
                                 {k: v for k, v in image_opts.items() if k != "workers"}))
    if shards is not None and records_per_shard is not None:
        raise SpecError("give shards or records_per_shard, not both")
    if shards is None and records_per_shard is None:
        if source.records_per_shard and source.rows is not None:
            shards = max(1, -(-source.rows // source.records_per_shard))
        else:
            shards = 1
    return write(source.batches, prefix, shards=shards or 1, records_per_shard=records_per_shard,
                 compression=compression, spec=spec, workers=workers, progress=progress, level=level,
                 metadata=dict(source.metadata, source=source.metadata.get("source", source.kind)),
                 total=source.rows, sequence=sequence)
