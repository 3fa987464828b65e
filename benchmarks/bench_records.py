"""TFRecord write/read throughput: tfforge against TensorFlow's Python path, the `tfrecord` package,
and `dd`, on the same data in the same run.

Record: 3 KB of bytes + an int64 label + 128 float32 (about 3.6 KB serialized). Writes into tmpfs
(/dev/shm) and onto disk (fsync'd, for every writer and for dd alike); encodes into memory (no I/O);
reads into numpy columns against tf.data.TFRecordDataset + batched tf.io.parse_example.

The read target's pair (the anchor "tf.data + parse_example, numpy" and "tfforge read, numpy") is timed
in alternating rounds, the same way for both: each round times the anchor, then tfforge, each sample
being as many whole passes over the files as fill --min-seconds (0.25 s: one or two anchor passes, a
dozen tfforge ones), per pass; one untimed pass of each first. The best round of each gives the row
and the ratio; the median of the per-round ratios is printed beside it. (Before, each row was the best
single pass of its own --repeat run, rows a few seconds apart: a 20 ms tfforge pass and a 150 ms anchor
pass met the machine's load at different moments.) Both run in the same process state: after
records.read's first call has told glibc to keep freed memory (cc/python/bind_records_pipeline.cc),
which speeds up the anchor too; the anchor as a process without tfforge runs it is the row "numpy,
before any tfforge read" (timed first, samples as the pair's), and its ratio is printed as well.

    python benchmarks/bench_records.py [--records 20000] [--out benchmarks/results]

Writes bench_records.json and bench_records.png into --out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import tfforge.records as records
from tfforge.bench.machine import machine_info
from tfforge.bench.report import write_barh_png, write_json
from tfforge.bench.timing import sample
from tfforge.records import _columns
from tfforge.records.files import default_workers

IMAGE_BYTES, EMB = 3072, 128


def make_data(n: int) -> dict:
    rng = np.random.default_rng(0)
    blob = rng.bytes(IMAGE_BYTES * n)
    return {"image": [blob[i * IMAGE_BYTES:(i + 1) * IMAGE_BYTES] for i in range(n)],
            "label": rng.integers(0, 1000, n), "emb": rng.random((n, EMB), dtype=np.float32)}


def best_of(fn, repeat: int) -> float:
    return sample(fn, repeat).best


def paired_rounds(fns: dict, rounds: int, min_seconds: float) -> dict:
    """Seconds per call of each fn, one sample per round, the fns taking turns within each round; a
    sample is the mean over as many calls as fill min_seconds (at least one). One untimed call each first."""
    for fn in fns.values():
        fn()
    out: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            calls, start = 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    break
            out[name].append(elapsed / calls)
    return out


def fsync_files(paths):
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fresh_dir(base: str, name: str) -> str:
    d = os.path.join(base, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


# --- writers -----------------------------------------------------------------------------------

def tf_python_writer(tf, data, path, tolist: bool, sync: bool):
    def run():
        with tf.io.TFRecordWriter(path) as w:
            for img, label, emb in zip(data["image"], data["label"], data["emb"]):
                ex = tf.train.Example(features=tf.train.Features(feature={
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
                    "emb": tf.train.Feature(float_list=tf.train.FloatList(value=emb.tolist() if tolist else emb)),
                }))
                w.write(ex.SerializeToString())
        if sync:
            fsync_files([path])
    return run


def tfrecord_pkg_seconds(n: int, path: str) -> float:
    """The `tfrecord` package registers the same proto names as TensorFlow, so it cannot be imported into
    a process that has TensorFlow: it runs in a child process on the same (seeded) data."""
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--tfrecord-pkg-child", path, "--records", str(n)],
                         check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def tfrecord_pkg_child(n: int, path: str) -> None:
    from tfrecord import TFRecordWriter

    data = make_data(n)
    start = time.perf_counter()
    w = TFRecordWriter(path)
    for img, label, emb in zip(data["image"], data["label"], data["emb"]):
        w.write({"image": (img, "byte"), "label": (int(label), "int"), "emb": (emb.tolist(), "float")})
    w.close()
    print(time.perf_counter() - start)


def tfforge_writer(data, prefix, workers, shards, sync: bool):
    def run():
        paths = records.write(data, prefix, shards=shards, workers=workers, progress=False)
        if sync:
            fsync_files(paths)
    return run


def dd_write(path: str, nbytes: int, sync: bool) -> float:
    count = max(1, -(-nbytes // (4 << 20)))
    cmd = ["dd", "if=/dev/zero", f"of={path}", "bs=4M", f"count={count}"] + (["conv=fsync"] if sync else [])
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    elapsed = time.perf_counter() - start
    os.unlink(path)
    return count * (4 << 20) / elapsed


# --- readers -----------------------------------------------------------------------------------

def tf_reader(tf, paths, spec, to_numpy: bool, parallel: bool = False):
    """tf.data + parse_example; parallel: interleaved files and map with AUTOTUNE (the tuned pipeline)."""
    def run():
        if parallel:
            files = tf.data.Dataset.from_tensor_slices(paths)
            ds = files.interleave(tf.data.TFRecordDataset, cycle_length=len(paths), num_parallel_calls=tf.data.AUTOTUNE)
            ds = ds.batch(1024).map(lambda x: tf.io.parse_example(x, spec), num_parallel_calls=tf.data.AUTOTUNE)
        else:
            ds = tf.data.TFRecordDataset(paths).batch(1024).map(lambda x: tf.io.parse_example(x, spec))
        for batch in ds.prefetch(tf.data.AUTOTUNE):
            if to_numpy:
                {k: v.numpy() for k, v in batch.items()}
    return run


def tfforge_reader(paths, workers=None, ordered=True):
    """records.read; workers=None: every core (the default), ordered: batches in file order (the default)."""
    def run():
        for _ in records.read(paths, batch_size=1024, workers=workers, ordered=ordered):
            pass
    return run


def tfforge_dataset(paths):
    """The tf.data bridge: records.dataset (native parse op in the graph), tensors."""
    def run():
        for _ in records.dataset(paths, 1024):
            pass
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3, help="best of N for the fast variants (rounds of the read pair)")
    ap.add_argument("--min-seconds", type=float, default=0.25,
                    help="read pair: each sample repeats whole passes for at least this long")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"))
    ap.add_argument("--tmpfs", default="/dev/shm")
    ap.add_argument("--disk", default=None, help="a folder on disk (default: a temp folder under --out)")
    ap.add_argument("--only", choices=("all", "read"), default="all", help="read: only the reading benchmarks")
    ap.add_argument("--tfrecord-pkg-child", metavar="PATH", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.tfrecord_pkg_child:
        tfrecord_pkg_child(args.records, args.tfrecord_pkg_child)
        return 0
    os.makedirs(args.out, exist_ok=True)
    import tensorflow as tf

    n = args.records
    data = make_data(n)
    cores = os.cpu_count() or 1
    prepared = _columns.prepare(data)
    probe = prepared.native.encode(0, min(n, 1000), True, 1)[1]
    record_bytes = float(probe[-1]) / min(n, 1000)
    total_bytes = record_bytes * n
    tmpfs = tempfile.mkdtemp(prefix="tfforge-bench-", dir=args.tmpfs)
    disk = tempfile.mkdtemp(prefix="tfforge-bench-", dir=args.disk or args.out)
    results: list[dict] = []

    def add(group, name, target, seconds=None, bytes_per_s=None, note=""):
        if seconds is not None:
            row = {"group": group, "name": name, "target": target, "seconds": seconds, "rec_s": n / seconds,
                   "mb_s": total_bytes / seconds / 1e6}
        else:
            row = {"group": group, "name": name, "target": target, "seconds": None, "rec_s": None,
                   "mb_s": bytes_per_s / 1e6}
        row["note"] = note
        results.append(row)
        rate = f"{row['rec_s']:>12,.0f} rec/s" if row["rec_s"] else " " * 18
        print(f"{group:<6} {name:<34} {target:<7} {rate} {row['mb_s']:>9,.1f} MB/s", flush=True)
        return row

    print(f"{n:,} records of {record_bytes:,.0f} bytes ({total_bytes / 1e6:,.1f} MB), {cores} cores "
          f"({default_workers()} used by records.read), load average {os.getloadavg()[0]:.1f}",
          flush=True)
    try:
        if args.only == "all":
            # Encoding into memory: a reused output buffer, so only encoding + CRCs are timed.
            out = np.zeros(int(total_bytes * 1.01) + (1 << 20), np.uint8)
            prepared.native.encode_into(out, 0, n, True, 1)  # touch the pages once
            for workers, label in ((1, "1 worker"), (cores, f"{cores} workers")):
                add("encode", f"tfforge encode, {label}", "memory",
                    best_of(lambda: prepared.native.encode_into(out, 0, n, True, workers), args.repeat))
            del out

            for target, base, sync in (("tmpfs", tmpfs, False), ("disk", disk, True)):
                d = fresh_dir(base, "tf")
                if target == "tmpfs":
                    add("write", "TensorFlow Python, numpy arg", target,
                        best_of(tf_python_writer(tf, data, os.path.join(d, "a.tfrecord"), False, sync), 1))
                add("write", "TensorFlow Python, .tolist()", target,
                    best_of(tf_python_writer(tf, data, os.path.join(d, "b.tfrecord"), True, sync), 1))
                if target == "tmpfs":
                    try:
                        add("write", "tfrecord package", target, tfrecord_pkg_seconds(n, os.path.join(d, "c.tfrecord")))
                    except subprocess.CalledProcessError as exc:
                        print(f"(tfrecord package not usable: {exc.stderr.strip().splitlines()[-1]})")
                shutil.rmtree(d)
                for workers, shards, label in ((1, 1, "1 worker"), (None, cores, f"{cores} workers, {cores} shards")):
                    d = fresh_dir(base, "ff")
                    add("write", f"tfforge, {label}", target,
                        best_of(tfforge_writer(data, os.path.join(d, "ds"), workers, shards, sync), args.repeat))
                    shutil.rmtree(d)
                add("write", "dd if=/dev/zero bs=4M" + (" conv=fsync" if sync else ""), target,
                    bytes_per_s=dd_write(os.path.join(base, "dd.bin"), int(total_bytes), sync))

        # Reading: the same files for both readers, from tmpfs.
        d = fresh_dir(tmpfs, "read")
        paths = records.write(data, os.path.join(d, "ds"), shards=cores, progress=False)
        spec = records.spec(os.path.join(d, "ds")).to_tf()
        paths1 = records.write(data, os.path.join(d, "one"), shards=1, progress=False)
        add("read", "tf.data + parse_example, tensors", "tmpfs", best_of(tf_reader(tf, paths, spec, False), args.repeat))
        before = paired_rounds({"anchor": tf_reader(tf, paths, spec, True)}, args.repeat, args.min_seconds)
        add("read", "tf.data + parse_example, numpy, before any tfforge read", "tmpfs", min(before["anchor"]),
            note=f"best of {args.repeat} samples of {args.min_seconds} s, as the pair")
        pair = paired_rounds({"anchor": tf_reader(tf, paths, spec, True), "tfforge": tfforge_reader(paths)},
                             args.repeat, args.min_seconds)
        round_ratios = sorted(a / f for a, f in zip(pair["anchor"], pair["tfforge"]))
        add("read", "tf.data + parse_example, numpy", "tmpfs", min(pair["anchor"]),
            note=f"paired rounds with tfforge read, numpy ({args.min_seconds} s samples)")
        add("read", "tf.data + parse_example AUTOTUNE, tensors", "tmpfs",
            best_of(tf_reader(tf, paths, spec, False, parallel=True), args.repeat))
        add("read", "tfforge read, numpy, 1 worker", "tmpfs", best_of(tfforge_reader(paths, workers=1), args.repeat))
        add("read", "tfforge read, numpy", "tmpfs", min(pair["tfforge"]),
            note=f"paired rounds with the anchor; per-round ratios {', '.join(f'{r:.2f}' for r in round_ratios)}")
        add("read", "tfforge read, numpy, 1 shard", "tmpfs", best_of(tfforge_reader(paths1), args.repeat))
        add("read", "tfforge read, numpy, unordered", "tmpfs", best_of(tfforge_reader(paths, ordered=False), args.repeat))
        add("read", "tfforge records.dataset, tensors", "tmpfs", best_of(tfforge_dataset(paths), args.repeat))
        # Checking without decoding: framing (count) and every CRC (verify), files on all cores.
        add("check", "tfforge records.count", "tmpfs", best_of(lambda: records.count(paths), args.repeat))
        add("check", "tfforge records.verify", "tmpfs", best_of(lambda: records.verify(paths), args.repeat))
    finally:
        shutil.rmtree(tmpfs, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)

    def rate(name, target):
        return next(r for r in results if r["name"] == name and r["target"] == target)["mb_s"]

    ratios = {}
    if args.only == "all":
        enc1 = rate("tfforge encode, 1 worker", "memory")
        encn = rate(f"tfforge encode, {cores} workers", "memory")
        ff_tmpfs = rate(f"tfforge, {cores} workers, {cores} shards", "tmpfs")
        ff_disk = rate(f"tfforge, {cores} workers, {cores} shards", "disk")
        ratios.update({
            "encode_1_worker_gb_s": enc1 / 1e3,
            "encode_all_cores_vs_1": encn / enc1,
            "tmpfs_all_cores_vs_tf_tolist": ff_tmpfs / rate("TensorFlow Python, .tolist()", "tmpfs"),
            "tmpfs_all_cores_vs_tf_numpy": ff_tmpfs / rate("TensorFlow Python, numpy arg", "tmpfs"),
            "tmpfs_all_cores_vs_dd": ff_tmpfs / rate("dd if=/dev/zero bs=4M", "tmpfs"),
            "disk_all_cores_vs_dd": ff_disk / rate("dd if=/dev/zero bs=4M conv=fsync", "disk"),
            "disk_all_cores_vs_tf_tolist": ff_disk / rate("TensorFlow Python, .tolist()", "disk"),
        })
        if any(r["name"] == "tfrecord package" for r in results):
            ratios["tmpfs_all_cores_vs_tfrecord_pkg"] = ff_tmpfs / rate("tfrecord package", "tmpfs")
    tf_numpy = rate("tf.data + parse_example, numpy", "tmpfs")
    ratios.update({
        "read_vs_tf_data_numpy": rate("tfforge read, numpy", "tmpfs") / tf_numpy,
        "read_vs_tf_data_numpy_round_median": statistics.median(round_ratios),
        "read_vs_tf_data_tensors": rate("tfforge read, numpy", "tmpfs") / rate("tf.data + parse_example, tensors", "tmpfs"),
        "read_1_worker_vs_tf_data_numpy": rate("tfforge read, numpy, 1 worker", "tmpfs") / tf_numpy,
        "read_1_shard_vs_tf_data_numpy": rate("tfforge read, numpy, 1 shard", "tmpfs") / tf_numpy,
        "read_unordered_vs_tf_data_numpy": rate("tfforge read, numpy, unordered", "tmpfs") / tf_numpy,
        "read_vs_tf_data_numpy_before_tfforge": rate("tfforge read, numpy", "tmpfs")
        / rate("tf.data + parse_example, numpy, before any tfforge read", "tmpfs"),
        "read_all_cores_vs_1_worker": rate("tfforge read, numpy", "tmpfs") / rate("tfforge read, numpy, 1 worker", "tmpfs"),
        "dataset_vs_tf_data_autotune": rate("tfforge records.dataset, tensors", "tmpfs")
        / rate("tf.data + parse_example AUTOTUNE, tensors", "tmpfs"),
    })
    targets = {
        "encode_1_worker_gb_s": 2.5, "encode_all_cores_vs_1": 1.8, "tmpfs_all_cores_vs_tf_tolist": 20,
        "tmpfs_all_cores_vs_tf_numpy": 40, "disk_all_cores_vs_dd": 0.8, "read_vs_tf_data_numpy": 6,
        "dataset_vs_tf_data_autotune": 2,
    }
    print(f"\nratios (target), load average {os.getloadavg()[0]:.1f} at the end:")
    for k, v in ratios.items():
        t = targets.get(k)
        print(f"  {k:<34} {v:8.2f}" + (f"   (>= {t}: {'met' if v >= t else 'NOT met'})" if t else ""))
    report = {
        "benchmark": "records", "records": n, "record_bytes": record_bytes, "cores": cores,
        "read_workers": default_workers(),
        "machine": machine_info(),  # load_average: at the end of the run
        "results": results, "ratios": ratios, "targets": targets,
    }
    json_path = os.path.join(args.out, "bench_records.json")
    write_json(report, json_path)
    png = plot(results, os.path.join(args.out, "bench_records.png"))
    print(f"\nwrote {json_path}" + (f" and {png}" if png else " (no PNG: pip install matplotlib)"))
    return 0


def plot(results, path):
    labels = [f"{r['group']}: {r['name']} [{r['target']}]" for r in results]
    colors = ["tab:orange" if "tfforge" in r["name"] else "tab:gray" if r["name"].startswith("dd") else "tab:blue"
              for r in results]
    return write_barh_png(path, labels, [r["mb_s"] for r in results], colors, "MB/s of serialized records (log scale)",
                          "TFRecord throughput: tfforge (orange) vs TensorFlow / tfrecord (blue), dd (gray)", log_x=True)


if __name__ == "__main__":
    sys.exit(main())
