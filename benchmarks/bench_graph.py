"""Graph engine benchmark: tfforge's native GraphDef passes and text format against TensorFlow's paths,
in one run, written to benchmarks/results/graph.json.

  * a 537 MB frozen graph (8 x Dense 4096x4096, float32): parse+index, strip_unused_nodes,
    remove_device and write, against Python protobuf + graph_util.extract_sub_graph and against
    TensorFlow's C++ transform_graph (the wheel's private binding _pywrap_transform_graph);
  * a 2.5 GB frozen graph (38 x Dense 4096x4096): the same through each path; protobuf's 2 GB limit
    makes TensorFlow's paths fail (run in subprocesses so a failure cannot take the benchmark down);
  * pbtxt write and parse of a frozen Keras ResNet50 (random weights) against protobuf's text_format.

Every output is durable on both sides: tfforge's writer always fsyncs before its rename, so the
TensorFlow paths' writes are followed by an fsync too, and each timed tfforge write goes to a path whose
previous output was removed (and synced) untimed. A durable 537 MB write is bounded by the disk
(`dd oflag=direct conv=fsync`: about 0.5 s here), whatever the CPU work before it.

The big graphs are written with a few lines of wire encoding below (no TensorFlow needed to build
them). Usage: python benchmarks/bench_graph.py [--workdir DIR] [--skip-2gb] [--skip-pbtxt]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np

from tfforge.bench.machine import machine_info
from tfforge.bench.report import write_json
from tfforge.bench.timing import fresh_output, sample

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
DIM = 4096


# --- writing a frozen Dense stack as GraphDef wire bytes ------------------------------------------

def _varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _field(num: int, payload: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(payload)) + payload


def _attr(key: str, value: bytes) -> bytes:
    return _field(5, _field(1, key.encode()) + _field(2, value))


def _type_attr(dtype: int = 1) -> bytes:
    return _varint(6 << 3) + _varint(dtype)


def _shape(dims) -> bytes:
    return b"".join(_field(2, _varint(1 << 3) + _varint(d)) for d in dims)


def _node(name, op, inputs=(), device="/device:CPU:0", attrs=b"") -> bytes:
    body = _field(1, name.encode()) + _field(2, op.encode())
    body += b"".join(_field(3, i.encode()) for i in inputs)
    if device:
        body += _field(4, device.encode())
    return _field(1, body + attrs)


def _const_header(name: str, dims, nbytes: int) -> bytes:
    """The bytes of a Const node before its tensor_content, and the outer node length prefix, so the
    (large) content can be streamed from an array without building the node in memory."""
    tensor_head = _varint(1 << 3) + _varint(1) + _field(2, _shape(dims)) + _varint(4 << 3 | 2) + _varint(nbytes)
    tensor_len = len(tensor_head) + nbytes
    attr_value_head = _varint(8 << 3 | 2) + _varint(tensor_len)
    value_len = len(attr_value_head) + tensor_len
    entry_head = _field(1, b"value") + _varint(2 << 3 | 2) + _varint(value_len)
    entry_len = len(entry_head) + value_len
    node_head = (_field(1, name.encode()) + _field(2, b"Const") + _field(4, b"/device:CPU:0")
                 + _attr("dtype", _type_attr()) + _varint(5 << 3 | 2) + _varint(entry_len) + entry_head)
    node_head += attr_value_head + tensor_head
    node_len = len(node_head) + nbytes
    return _varint(1 << 3 | 2) + _varint(node_len) + node_head


def write_dense_stack(path: str, layers: int, seed: int = 0) -> dict:
    """x -> [MatMul(kernel_i) -> BiasAdd(bias_i) -> Relu] x layers -> Identity 'output', every node on
    /device:CPU:0, plus an unused head per layer (what strip_unused_nodes removes)."""
    rng = np.random.default_rng(seed)
    kernel = (rng.standard_normal((DIM, DIM), dtype=np.float32) * 0.01)
    bias = np.zeros(DIM, np.float32)
    with open(path + ".tmp", "wb") as f:
        f.write(_node("x", "Placeholder", attrs=_attr("dtype", _type_attr()) + _attr("shape", _field(7, _shape([1, DIM])))))
        prev = "x"
        for i in range(layers):
            f.write(_const_header(f"dense_{i}/kernel", [DIM, DIM], kernel.nbytes))
            f.write(kernel.data)
            f.write(_node(f"dense_{i}/bias", "Const", attrs=_attr("dtype", _type_attr()) + _attr(
                "value", _field(8, _varint(1 << 3) + _varint(1) + _field(2, _shape([DIM])) + _field(4, bias.tobytes())))))
            t = _attr("T", _type_attr())
            f.write(_node(f"dense_{i}/MatMul", "MatMul", [prev, f"dense_{i}/kernel"], attrs=t))
            f.write(_node(f"dense_{i}/BiasAdd", "BiasAdd", [f"dense_{i}/MatMul", f"dense_{i}/bias"], attrs=t))
            f.write(_node(f"dense_{i}/Relu", "Relu", [f"dense_{i}/BiasAdd"], attrs=t))
            f.write(_node(f"dense_{i}/unused_head", "Sigmoid", [f"dense_{i}/BiasAdd"], attrs=t))
            prev = f"dense_{i}/Relu"
        f.write(_node("output", "Identity", [prev], attrs=_attr("T", _type_attr())))
        f.write(_field(4, _varint(1 << 3) + _varint(1987)))  # versions { producer: 1987 }
        f.flush()
        os.fsync(f.fileno())  # on disk before timing starts, so its writeback does not throttle the timed writes
    os.replace(path + ".tmp", path)
    return {"path": path, "bytes": os.path.getsize(path), "layers": layers}


# --- timing -----------------------------------------------------------------------------------------

def best_of(fn, repeat: int, fresh: str | None = None):
    """`fresh`: the output path, removed untimed before each call."""
    s = sample(fn, repeat, before=fresh_output(fresh) if fresh else None)
    return s.best, s.median, s.result


def bench_tfforge(src: str, out: str, repeat: int) -> dict:
    import tfforge.graph as tg
    r = {}
    r["parse_index_s"], _, g = best_of(lambda: tg.load(src), repeat)
    r["strip_unused_nodes_s"], _, stripped = best_of(
        lambda: g.apply("strip_unused_nodes", inputs=["x"], outputs=["output"]), repeat)
    r["remove_device_s"], _, cleaned = best_of(lambda: stripped.apply("remove_device"), repeat)
    r["write_s"], _, _ = best_of(lambda: cleaned.save(out), repeat, fresh=out)
    r["prune_and_write_s"], r["prune_and_write_median_s"], _ = best_of(
        lambda: g.apply("strip_unused_nodes remove_device", inputs=["x"], outputs=["output"]).save(out), repeat,
        fresh=out)
    r["end_to_end_s"], r["end_to_end_median_s"], _ = best_of(
        lambda: tg.load(src).apply("strip_unused_nodes remove_device", inputs=["x"], outputs=["output"]).save(out),
        repeat, fresh=out)
    r["nodes_in"], r["nodes_out"], r["bytes_out"] = len(g), len(cleaned), os.path.getsize(out)
    return r


# Runs in a subprocess: Python protobuf + extract_sub_graph, and TensorFlow's C++ transform_graph.
_TF_SCRIPT = textwrap.dedent("""
    import json, os, sys, time
    src, out, which = sys.argv[1], sys.argv[2], sys.argv[3]
    import tensorflow as tf
    r = {}
    t0 = time.perf_counter()
    data = open(src, "rb").read()
    r["read_s"] = time.perf_counter() - t0
    if which == "python":
        gd = tf.compat.v1.GraphDef()
        t = time.perf_counter(); gd.ParseFromString(data); r["parse_s"] = time.perf_counter() - t
        del data
        t = time.perf_counter(); sub = tf.compat.v1.graph_util.extract_sub_graph(gd, ["output"])
        r["extract_sub_graph_s"] = time.perf_counter() - t
        t = time.perf_counter()
        for n in sub.node:
            n.device = ""
        r["remove_device_s"] = time.perf_counter() - t
        t = time.perf_counter()
        with open(out, "wb") as f:
            f.write(sub.SerializeToString())
            f.flush()
            os.fsync(f.fileno())
        r["write_s"] = time.perf_counter() - t
        r["prune_and_write_s"] = r["extract_sub_graph_s"] + r["remove_device_s"] + r["write_s"]
        r["nodes_out"] = len(sub.node)
    else:
        from tensorflow.python.util._pywrap_transform_graph import TransformGraphWithStringInputs
        t = time.perf_counter()
        res = TransformGraphWithStringInputs(data, b"x", b"output", b"strip_unused_nodes remove_device")
        r["transform_s"] = time.perf_counter() - t
        t = time.perf_counter()
        with open(out, "wb") as f:
            f.write(res)
            f.flush()
            os.fsync(f.fileno())
        r["write_s"] = time.perf_counter() - t
        r["prune_and_write_s"] = r["transform_s"] + r["write_s"]
    r["end_to_end_s"] = time.perf_counter() - t0
    print("RESULT " + json.dumps(r))
""")


def bench_tensorflow(src: str, out: str, which: str, timeout: int = 600) -> dict:
    start = time.perf_counter()
    try:
        res = subprocess.run([sys.executable, "-c", _TF_SCRIPT, src, out, which], capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout} s"}
    for line in res.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[7:])
            r["ok"] = True
            return r
    err = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    return {"ok": False, "returncode": res.returncode, "seconds": time.perf_counter() - start,
            "error": err[-1][:400] if err else f"exit code {res.returncode}"}


def memcpy_floor(nbytes: int) -> float:
    """Seconds to copy nbytes into freshly allocated memory on this machine: the least any writer of a
    new nbytes-long output pays."""
    src = np.ones(nbytes, np.uint8)
    best = min(_timed_copy(src) for _ in range(3))
    del src
    return best


def _timed_copy(src) -> float:
    start = time.perf_counter()
    dst = np.empty_like(src)
    np.copyto(dst, src)
    return time.perf_counter() - start


def check_same_graph(a: str, b: str) -> bool:
    """Both outputs hold the same nodes (TensorFlow parses them)."""
    import tensorflow as tf
    ga, gb = tf.compat.v1.GraphDef(), tf.compat.v1.GraphDef()
    with open(a, "rb") as f:
        ga.ParseFromString(f.read())
    with open(b, "rb") as f:
        gb.ParseFromString(f.read())
    return sorted(n.SerializeToString(deterministic=True) for n in ga.node) == sorted(
        n.SerializeToString(deterministic=True) for n in gb.node)


def bench_pbtxt(workdir: str, repeat: int) -> dict:
    import tensorflow as tf
    from google.protobuf import text_format
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tfforge.graph import text

    model = tf.keras.applications.ResNet50(weights=None)
    fn = tf.function(lambda x: model(x, training=False))
    frozen = convert_variables_to_constants_v2(fn.get_concrete_function(tf.TensorSpec((1, 224, 224, 3), tf.float32)))
    gd = frozen.graph.as_graph_def()
    pb = os.path.join(workdir, "resnet50.pb")
    with open(pb, "wb") as f:
        f.write(gd.SerializeToString())
    ours_txt = os.path.join(workdir, "resnet50.pbtxt")
    r = {"pb_bytes": os.path.getsize(pb)}
    r["tfforge_write_s"], _, _ = best_of(lambda: text.binary_to_text(pb, ours_txt, text.GRAPH_DEF), repeat,
                                          fresh=ours_txt)
    r["pbtxt_bytes"] = os.path.getsize(ours_txt)
    r["tfforge_parse_s"], _, parsed = best_of(lambda: text.read_text(ours_txt), repeat)
    start = time.perf_counter()
    theirs = text_format.MessageToString(gd)
    r["protobuf_write_s"] = time.perf_counter() - start
    theirs_txt = os.path.join(workdir, "resnet50_protobuf.pbtxt")
    with open(theirs_txt, "w") as f:
        f.write(theirs)
    start = time.perf_counter()
    with open(theirs_txt) as f:
        back = text_format.Parse(f.read(), tf.compat.v1.GraphDef())
    r["protobuf_parse_s"] = time.perf_counter() - start
    r["tfforge_parse_of_protobuf_text_s"], _, parsed_theirs = best_of(lambda: text.read_text(theirs_txt), 1)
    r["round_trip_exact"] = parsed == gd.SerializeToString() or parsed == open(pb, "rb").read()
    parsed_gd = tf.compat.v1.GraphDef()
    parsed_gd.ParseFromString(parsed_theirs)
    r["reads_protobuf_text"] = parsed_gd == back == gd
    r["parse_speedup"] = r["protobuf_parse_s"] / r["tfforge_parse_s"]
    r["write_speedup"] = r["protobuf_write_s"] / r["tfforge_write_s"]
    for p in (ours_txt, theirs_txt, pb):
        os.unlink(p)
    return r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workdir", default="/tmp/tfforge-bench-graph", help="where graphs and outputs are written")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-2gb", action="store_true")
    ap.add_argument("--skip-pbtxt", action="store_true")
    args = ap.parse_args(argv)
    os.makedirs(args.workdir, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    report = {"machine": machine_info()}
    import tfforge
    report["tfforge"] = tfforge.__version__

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    # 537 MB
    src = os.path.join(args.workdir, "dense8.pb")
    log("writing the 537 MB graph ...")
    report["graph_537mb"] = info = write_dense_stack(src, 8)
    out_ours, out_py, out_tf = (os.path.join(args.workdir, n) for n in ("ours.pb", "py.pb", "tf.pb"))
    log("tfforge ...")
    info["tfforge"] = bench_tfforge(src, out_ours, args.repeat)
    log("Python protobuf + extract_sub_graph ...")
    info["python_protobuf"] = bench_tensorflow(src, out_py, "python")
    log("TensorFlow C++ transform_graph ...")
    info["tensorflow_transform_graph"] = bench_tensorflow(src, out_tf, "tf")
    info["memcpy_floor_s"] = memcpy_floor(info["bytes"])
    ours = info["tfforge"]["prune_and_write_s"]
    for key in ("python_protobuf", "tensorflow_transform_graph"):
        other = info[key]
        if other.get("ok"):
            other["prune_and_write_speedup"] = other["prune_and_write_s"] / ours
            other["end_to_end_speedup"] = other["end_to_end_s"] / info["tfforge"]["end_to_end_s"]
    info["same_nodes_as_python"] = check_same_graph(out_ours, out_py) if info["python_protobuf"].get("ok") else None
    info["same_nodes_as_transform_graph"] = (check_same_graph(out_ours, out_tf)
                                             if info["tensorflow_transform_graph"].get("ok") else None)
    for p in (src, out_ours, out_py, out_tf):
        if os.path.exists(p):
            os.unlink(p)

    if not args.skip_2gb:
        src = os.path.join(args.workdir, "dense38.pb")
        log("writing the 2.5 GB graph ...")
        report["graph_2_5gb"] = big = write_dense_stack(src, 38)
        log("tfforge (2.5 GB) ...")
        big["tfforge"] = bench_tfforge(src, out_ours, 2)
        os.unlink(out_ours)
        log("Python protobuf (2.5 GB) ...")
        big["python_protobuf"] = bench_tensorflow(src, out_py, "python")
        log("TensorFlow C++ transform_graph (2.5 GB) ...")
        big["tensorflow_transform_graph"] = bench_tensorflow(src, out_tf, "tf")
        for p in (src, out_py, out_tf):
            if os.path.exists(p):
                os.unlink(p)

    if not args.skip_pbtxt:
        log("ResNet50 pbtxt ...")
        report["pbtxt_resnet50"] = bench_pbtxt(args.workdir, 3)

    path = os.path.join(RESULTS, "graph.json")
    report["machine"] = machine_info()  # load average at the end of the run
    write_json(report, path)
    print(json.dumps(report, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
