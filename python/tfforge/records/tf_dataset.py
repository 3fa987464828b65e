"""The tf.data bridge: record files as a ``tf.data.Dataset`` of parsed batches, decoded in the graph by
tfforge's native Example decoder (the TfforgeParseExampleBatch op of _ops.so)."""

from __future__ import annotations

from tfforge import _native
from tfforge.errors import SpecError
from tfforge.records.raw import compression_arg
from tfforge.records.reader import find_spec, infer_spec, resolve_paths
from tfforge.records.spec import Spec

_TF_COMPRESSION = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}
_KINDS = ("int64", "float", "bytes")


def _tf_dtype(tf, kind: str):
    return {"int64": tf.int64, "float": tf.float32, "bytes": tf.string}[kind]


def _layout(tf, spec: Spec, features, varlen: str):
    """The op attrs for a spec: {dense_keys, dense_shapes, ragged_keys, sparse_keys, Tdense, Tragged,
    Tsparse} plus the dense defaults (tensors) and the names in the order asked."""
    if varlen not in ("ragged", "sparse"):
        raise SpecError(f"varlen must be 'ragged' or 'sparse', not {varlen!r}")
    names = list(features) if features is not None else list(spec)
    dense, ragged, sparse = [], [], []
    for name in names:
        if name not in spec:
            raise SpecError(f"feature {name!r} is not in the spec ({', '.join(spec)})")
        f = spec[name]
        if f.kind not in _KINDS or f.sequence or not (f.plain or f.type == "varlen"):
            raise SpecError(f"feature {name!r}: type {f.type!r}{' (a sequence feature)' if f.sequence else ''} "
                            "is not supported by the tf.data bridge (supported: fixed, varlen and ragged features "
                            "without partitions, in an Example); parse it with tf.io.parse_example")
        if f.type == "varlen":
            sparse.append(name)
        elif f.varlen:
            (ragged if varlen == "ragged" else sparse).append(name)
        else:
            dense.append(name)
    defaults = []
    for name in dense:
        f = spec[name]
        dt = _tf_dtype(tf, f.kind)
        defaults.append(tf.constant([], dt) if f.default is None else tf.constant(list(f.default), dt))
    attrs = dict(dense_keys=dense, dense_shapes=[list(spec[n].shape) for n in dense], ragged_keys=ragged,
                 sparse_keys=sparse, Tragged=[_tf_dtype(tf, spec[n].kind) for n in ragged],
                 Tsparse=[_tf_dtype(tf, spec[n].kind) for n in sparse])
    return attrs, defaults, names


def _assemble(tf, attrs: dict, names: list, flat) -> dict:
    """The ops' flat outputs (dense values, ragged values, row splits, sparse indices, values, shapes)
    as {name: tensor}: RaggedTensor / SparseTensor for the variable-length ones."""
    dense, ragged, sparse = attrs["dense_keys"], attrs["ragged_keys"], attrs["sparse_keys"]
    flat = list(flat)
    nd, nr, ns = len(dense), len(ragged), len(sparse)
    result = dict(zip(dense, flat[:nd]))
    for i, name in enumerate(ragged):
        result[name] = tf.RaggedTensor.from_row_splits(flat[nd + i], flat[nd + nr + i], validate=False)
    base = nd + 2 * nr
    for i, name in enumerate(sparse):
        result[name] = tf.SparseTensor(flat[base + i], flat[base + ns + i], flat[base + 2 * ns + i])
    return {name: result[name] for name in names}


def parse_batch(serialized, spec, *, features=None, varlen: str = "ragged"):
    """Parses a vector of serialized Examples with the native op: {name: tensor}. Fixed-length features
    are dense tensors of shape [rows, *shape] (a missing value takes the spec's default, else it is an
    error), variable-length ones ``tf.RaggedTensor`` (varlen="ragged") or ``tf.SparseTensor``
    (varlen="sparse"), features of type "varlen" (``tf.io.VarLenFeature``) always ``tf.SparseTensor``.
    Other types (sparse, fixed_sequence, ragged with partitions, SequenceExample feature lists) raise
    SpecError. Dtypes are the Example kinds' (int64, float32,
    string), as ``Spec.to_tf()`` and ``tf.io.parse_example`` give."""
    from tfforge._tf import import_tensorflow
    from tfforge.ops._loader import load_library

    tf = import_tensorflow()
    attrs, defaults, names = _layout(tf, Spec.coerce(spec), features, varlen)
    out = load_library().tfforge_parse_example_batch(serialized, dense_defaults=defaults, **attrs,
                                                     num_ragged=len(attrs["ragged_keys"]),
                                                     num_sparse=len(attrs["sparse_keys"]))
    return _assemble(tf, attrs, names, [t for part in out for t in part])


def _native_source(tf, filenames, spec: Spec, attrs: dict, defaults: list, batch_size: int, drop_remainder: bool,
                   compression: str, verify: bool, workers: int):
    """A tf.data source of the ops' flat outputs per batch (TfforgeRecordBatchDataset)."""
    from tfforge._compat.tf import dataset_source
    from tfforge.ops._loader import load_library

    rows = batch_size if drop_remainder else None
    specs = [tf.TensorSpec([rows, *spec[n].shape], _tf_dtype(tf, spec[n].kind)) for n in attrs["dense_keys"]]
    specs += [tf.TensorSpec([None], t) for t in attrs["Tragged"]]
    specs += [tf.TensorSpec([None if rows is None else rows + 1], tf.int64) for _ in attrs["ragged_keys"]]
    specs += [tf.TensorSpec([None, 2], tf.int64) for _ in attrs["sparse_keys"]]
    specs += [tf.TensorSpec([None], t) for t in attrs["Tsparse"]]
    specs += [tf.TensorSpec([2], tf.int64) for _ in attrs["sparse_keys"]]
    element_spec = tuple(specs)

    class _Source(dataset_source().value):
        def __init__(self):
            variant = load_library().tfforge_record_batch_dataset(
                filenames, dense_defaults=defaults, batch_size=batch_size, drop_remainder=drop_remainder,
                compression=compression, verify=verify, workers=workers,
                output_types=[s.dtype for s in element_spec], output_shapes=[s.shape for s in element_spec],
                **attrs)
            super().__init__(variant)

        @property
        def element_spec(self):
            return element_spec

    return _Source()


def _native_source_available() -> bool:
    from tfforge._compat import fallback
    from tfforge._compat.tf import dataset_source
    feature = dataset_source()
    if not feature:
        fallback(feature, "records.dataset reads with TFRecordDataset and the parse op")
    return bool(feature)


def _compression(paths: list, compression) -> str:
    comp = compression_arg(compression)
    if comp != "auto":
        return _TF_COMPRESSION[comp]
    found = {p: _native.detect_compression(p) for p in paths}
    kinds = set(found.values())
    if len(kinds) > 1:
        raise SpecError("the files mix compressions (" + ", ".join(sorted(kinds)) + "); "
                        "tf.data reads one compression per dataset: give compression= or split them")
    return _TF_COMPRESSION[kinds.pop()]


def dataset(paths_or_prefix, batch_size: int, *, spec=None, features=None, varlen: str = "ragged",
            shuffle_files: bool = False, shuffle_buffer: int = 0, seed: int | None = None,
            cycle_length: int | None = None, drop_remainder: bool = False, compression="auto",
            deterministic: bool | None = None, prefetch: bool = True, workers: int | None = None,
            verify: bool = True):
    """A ``tf.data.Dataset`` of parsed batches ({name: tensor}, see :func:`parse_batch`) of a dataset
    prefix, a glob, a file or a list of those.

    Without ``shuffle_buffer`` the files (shuffled each epoch with ``shuffle_files``) are read and decoded
    by the native source op TfforgeRecordBatchDataset on ``workers`` threads (default every core): one
    stream of records in file order, cut into batches that span files, as ``records.read`` gives them
    (``verify`` checks data CRCs). With ``shuffle_buffer``, records are shuffled one by one: the files are
    interleaved ``cycle_length`` at a time (default: all, up to 16) through ``TFRecordDataset``, shuffled,
    batched and parsed by the native op in parallel map calls. Either way batches are prefetched. The
    spec comes from ``spec``, the dataset's spec file, or the first file's records."""
    from tfforge._tf import import_tensorflow
    from tfforge.records.reader import workers_arg

    tf = import_tensorflow()
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise SpecError(f"batch_size must be an integer of at least 1, not {batch_size!r}")
    paths = resolve_paths(paths_or_prefix)
    comp = _compression(paths, compression)
    s = Spec.coerce(spec) or find_spec(paths) or infer_spec(paths[0], 1024, compression_arg(compression))
    attrs, defaults, names = _layout(tf, s, features, varlen)  # checks the spec now
    autotune = tf.data.AUTOTUNE
    if not shuffle_buffer and _native_source_available():
        n = workers_arg(workers)
        native_comp = {"": "none", "GZIP": "gzip", "ZLIB": "zlib"}[comp]

        def source(filenames):
            return _native_source(tf, filenames, s, attrs, defaults, batch_size, drop_remainder, native_comp,
                                  bool(verify), n)

        if shuffle_files:
            files = tf.data.Dataset.from_tensor_slices(paths).shuffle(len(paths), seed=seed,
                                                                      reshuffle_each_iteration=True)
            ds = files.batch(len(paths)).flat_map(source)
        else:
            ds = source(tf.constant(paths, tf.string))
        ds = ds.map(lambda *flat: _assemble(tf, attrs, names, flat))
        return ds.prefetch(autotune) if prefetch else ds
    files = tf.data.Dataset.from_tensor_slices(paths)
    if shuffle_files:
        files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = files.interleave(lambda p: tf.data.TFRecordDataset(p, compression_type=comp),
                          cycle_length=cycle_length or min(len(paths), 16), block_length=1,
                          num_parallel_calls=autotune if len(paths) > 1 else None, deterministic=deterministic)
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x: parse_batch(x, s, features=features, varlen=varlen), num_parallel_calls=autotune,
                deterministic=deterministic)
    return ds.prefetch(autotune) if prefetch else ds
