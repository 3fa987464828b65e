"""Apache Beam transforms that encode rows with tfforge's native encoder and write sharded TFRecord
files through Beam's file sinks, plus the spec file. Runs on any Beam runner (DirectRunner,
DataflowRunner, FlinkRunner, SparkRunner); needs Apache Beam (``pip install apache-beam``).

    with beam.Pipeline() as p:
        (p | beam.Create(rows)                       # dicts {name: value}
           | records.beam.WriteToTFRecords("out/train", num_shards=4, compression="gzip"))

``EncodeExamples`` turns rows into serialized Examples (batched, so the native encoder sees columns);
``EncodeBatches`` does the same for column batches (dicts of columns, DataFrames, Arrow tables, e.g.
from ``beam.io.ReadFromParquetBatched``).
"""

from __future__ import annotations

import os

try:
    import apache_beam as beam
    from apache_beam.io.filesystem import CompressionTypes
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"tfforge.records.beam needs Apache Beam: pip install apache-beam (or, from tfforge's source directory: pip install --no-build-isolation '.[beam]') ({exc})") from None

import struct

from apache_beam.coders import BytesCoder
from apache_beam.io.filebasedsink import FileBasedSink

from tfforge._native import masked_crc32c
from tfforge.records import _columns
from tfforge.records.spec import Feature, Spec, merge
from tfforge.records.writer import normalize_compression

_FEATURES_TAG = "features"
_SUFFIX = {"none": ".tfrecord", "gzip": ".tfrecord.gz", "zlib": ".tfrecord.zz"}
_BEAM_COMPRESSION = {"none": CompressionTypes.UNCOMPRESSED, "gzip": CompressionTypes.GZIP,
                     "zlib": CompressionTypes.DEFLATE}  # Beam's DEFLATE is the zlib format TF calls ZLIB


class _TFRecordSink(FileBasedSink):
    """Beam file sink framing records with tfforge's CRC32C (Beam's own TFRecord sink needs an extra
    CRC package); Beam handles temporary files, sharding, compression and the final rename."""

    def __init__(self, prefix, suffix, num_shards, compression_type):
        super().__init__(prefix, coder=BytesCoder(), file_name_suffix=suffix, num_shards=num_shards,
                         shard_name_template="-SSSSS-of-NNNNN", mime_type="application/octet-stream",
                         compression_type=compression_type)

    def write_encoded_record(self, file_handle, value):
        length = struct.pack("<Q", len(value))
        file_handle.write(length + struct.pack("<I", masked_crc32c(length)) + value
                          + struct.pack("<I", masked_crc32c(value)))


def _rows_to_columns(rows: list) -> dict:
    names = list(rows[0])
    for r in rows[1:]:
        if list(r) != names and set(r) != set(names):
            raise ValueError(f"rows have different features: {sorted(names)} and {sorted(r)}")
    return {name: [r[name] for r in rows] for name in names}


class _EncodeFn(beam.DoFn):
    """Column batch -> serialized Examples; also emits the batch's features (tagged) for the spec."""

    def __init__(self, spec: dict | None, rows: bool):
        self._spec_json = spec
        self._rows = rows

    def setup(self):
        self._spec = Spec.from_json(self._spec_json) if self._spec_json else None

    def process(self, batch):
        data = _columns_of_rows(batch) if self._rows else batch
        prepared = _columns.prepare(data, self._spec)
        feats = {k: dict(f.to_json(), untyped=k in prepared.untyped) for k, f in prepared.features.items()}
        yield beam.pvalue.TaggedOutput(_FEATURES_TAG, (prepared.rows, feats))
        yield from prepared.native.serialize(0, prepared.rows, 1)


def _columns_of_rows(rows):
    return _rows_to_columns(list(rows))


class _MergeFeatures(beam.CombineFn):
    """Merges per-batch features into one spec (shapes that differ become variable length)."""

    def create_accumulator(self):
        return (0, {})

    def add_input(self, acc, item):
        return self.merge_accumulators([acc, item])

    def merge_accumulators(self, accs):
        rows, merged = 0, {}
        for n, feats in accs:
            rows += n
            for name, f in feats.items():
                old = merged.get(name)
                if old is None:
                    merged[name] = f
                elif f.get("untyped") or old.get("untyped"):  # no values on one side: keep the other's kind
                    typed = old if f.get("untyped") else f
                    merged[name] = dict(typed, shape=None, untyped=bool(f.get("untyped") and old.get("untyped")))
                else:
                    merged[name] = dict(merge(Feature.from_json(name, old), Feature.from_json(name, f), name).to_json(),
                                        untyped=False)
        return rows, merged

    def extract_output(self, acc):
        return acc


def _spec_json(spec) -> dict | None:
    s = Spec.coerce(spec)
    return s.to_json() if s is not None else None


class EncodeExamples(beam.PTransform):
    """PCollection of row dicts -> PCollection of serialized tf.train.Example bytes.

    Rows are grouped into batches (``beam.BatchElements``) so the native encoder works on columns.
    The output has a second, tagged PCollection ``features`` of (rows, features) per batch."""

    def __init__(self, spec=None, min_batch_size: int = 64, max_batch_size: int = 4096):
        super().__init__()
        self._spec = _spec_json(spec)
        self._min, self._max = min_batch_size, max_batch_size

    def expand(self, rows):
        return (rows
                | "Batch" >> beam.BatchElements(min_batch_size=self._min, max_batch_size=self._max)
                | "Encode" >> beam.ParDo(_EncodeFn(self._spec, rows=True)).with_outputs(_FEATURES_TAG, main="examples"))


class EncodeBatches(beam.PTransform):
    """PCollection of column batches (dict of columns, DataFrame, pyarrow Table) -> serialized Examples
    (with the tagged ``features`` output, as EncodeExamples)."""

    def __init__(self, spec=None):
        super().__init__()
        self._spec = _spec_json(spec)

    def expand(self, batches):
        return batches | "Encode" >> beam.ParDo(_EncodeFn(self._spec, rows=False)).with_outputs(
            _FEATURES_TAG, main="examples")


def _write_spec(acc, prefix: str, compression: str, given: dict | None):
    rows, features = acc
    spec = Spec.from_json(given) if given else Spec({k: Feature.from_json(k, v) for k, v in features.items()})
    spec.metadata.update({"records": rows, "compression": compression, "writer": "beam"})
    path = f"{prefix}.spec.json"
    from apache_beam.io.filesystems import FileSystems
    import json

    with FileSystems.create(path) as f:  # works for local paths and gs:// / s3:// alike
        f.write((json.dumps(spec.to_json(), indent=2) + "\n").encode())
    return path


class WriteToTFRecords(beam.PTransform):
    """Rows (or, with ``batched=True``, column batches) -> TFRecord shards named like records.write's
    (``{prefix}-00000-of-0000N.tfrecord[.gz|.zz]``) and ``{prefix}.spec.json``.

    num_shards=0 lets the runner choose. Returns the PCollection of shard file names."""

    def __init__(self, prefix: str, *, spec=None, num_shards: int = 0, compression=None, batched: bool = False):
        super().__init__()
        self._prefix = os.fspath(prefix)
        self._spec = _spec_json(spec)
        self._shards = num_shards
        self._compression = normalize_compression(compression)
        self._batched = batched

    def expand(self, pcoll):
        encode = EncodeBatches(self._spec) if self._batched else EncodeExamples(self._spec)
        encoded = pcoll | "EncodeExamples" >> encode
        files = encoded.examples | "Write" >> beam.io.iobase.Write(_TFRecordSink(
            self._prefix, _SUFFIX[self._compression], self._shards, _BEAM_COMPRESSION[self._compression]))
        (encoded[_FEATURES_TAG]
         | "MergeFeatures" >> beam.CombineGlobally(_MergeFeatures())
         | "WriteSpec" >> beam.Map(_write_spec, self._prefix, self._compression, self._spec))
        return files


def convert(src, prefix, *, runner: str = "DirectRunner", pipeline_args=(), shards=None, compression=None,
            spec=None) -> list[str]:
    """records.convert on a Beam runner: Parquet is read by the workers (ReadFromParquetBatched); other
    sources are read by the launching process and handed to the pipeline as batches."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from tfforge.records.reader import resolve_paths
    from tfforge.records.sources import open_source

    path = os.fspath(src)
    options = PipelineOptions(list(pipeline_args), runner=runner)
    with beam.Pipeline(options=options) as p:
        if path.lower().endswith((".parquet", ".pq")):
            batches = p | "ReadParquet" >> beam.io.ReadFromParquetBatched(path)
        else:
            source = open_source(path)
            batches = p | "ReadSource" >> beam.Create(list(source.batches), reshuffle=False)
        batches | "WriteToTFRecords" >> WriteToTFRecords(prefix, spec=spec, num_shards=shards or 0,
                                                          compression=compression, batched=True)
    return resolve_paths(prefix)
