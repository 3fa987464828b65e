"""Freezing benchmark: tfforge freeze vs TensorFlow's own route, for a Keras file, a SavedModel and a
TF1 checkpoint of the same model (default: 8 Dense 4096x4096 layers, 537 MB of float32 weights).

Every measurement runs in a fresh Python process, so imports and loading count as a user sees them:
  keras      TF: import, keras.models.load_model, trace, convert_variables_to_constants_v2, write .pb
             tfforge: `tfforge freeze model.keras out.pb`
  savedmodel TF: tf.saved_model.load + convert_variables_to_constants_v2 on serving_default, write
             tfforge: `tfforge freeze saved_model_dir out.pb`
  checkpoint TF: freeze_graph.freeze_graph (meta graph + checkpoint), the script users run today
             tfforge: `tfforge freeze ckpt_dir out.pb --outputs y`
Each process reports its phases; "freeze step" is the work after the model is loaded (TF:
convert_variables_to_constants_v2 + serialize + write; tfforge: everything after `import tensorflow`,
i.e. rebuilding the graph, mapping the weights, tracing and the native splice + write).

    python benchmarks/bench_freeze.py [--units 4096 --layers 8] [--quick]
    python benchmarks/bench_freeze.py --workdir /tmp/bench-freeze --formats checkpoint --reps 3
        (--workdir keeps the models: built once, reused by every later run)

Writes benchmarks/results/bench_freeze.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from tfforge.bench.machine import machine_info
from tfforge.bench.report import write_json
from tfforge.bench.timing import fresh_output, sample

HERE = os.path.dirname(os.path.abspath(__file__))

MAKE_MODELS = r"""
import os, sys, numpy as np
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf, keras
units, layers, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
keras.utils.set_random_seed(0)
keras_path = os.path.join(workdir, "model.keras")
if not os.path.exists(keras_path):
    inp = keras.Input((units,), name="x")
    h = inp
    for i in range(layers):
        h = keras.layers.Dense(units, activation="relu" if i < layers - 1 else None, name=f"dense_{i}")(h)
    keras.Model(inp, h).save(keras_path)
model = keras.models.load_model(keras_path)
if not os.path.exists(os.path.join(workdir, "saved")):
    model.export(os.path.join(workdir, "saved"), format="tf_saved_model", verbose=False)
weights = model.get_weights()
v1 = tf.compat.v1
g = tf.Graph()
if not os.path.exists(os.path.join(workdir, "ckpt")):
  with g.as_default():
    # Initializers are small random ops, as in a training script; the trained values are fed in once,
    # so the .meta holds the graph and not a second copy of the weights.
    x = v1.placeholder(tf.float32, [None, units], name="x")
    h = x
    variables = []
    for i in range(layers):
        w = v1.get_variable(f"dense_{i}/kernel", [units, units], initializer=v1.glorot_uniform_initializer())
        b = v1.get_variable(f"dense_{i}/bias", [units], initializer=v1.zeros_initializer())
        variables += [w, b]
        h = tf.matmul(h, w) + b
        if i < layers - 1:
            h = tf.nn.relu(h)
    tf.identity(h, name="y")
    feeds = [v1.placeholder(v.dtype.base_dtype, v.shape) for v in variables]
    load = tf.group(*[v.assign(p) for v, p in zip(variables, feeds)])
    saver = v1.train.Saver(variables)
    with v1.Session(graph=g) as sess:
        sess.run(v1.global_variables_initializer())
        sess.run(load, dict(zip(feeds, weights)))
        saver.save(sess, os.path.join(workdir, "ckpt", "model.ckpt"), global_step=1)
"""

# Every script times its own imports: a fresh process per measurement, so nothing is cached.
TIMED_PRELUDE = r"""
import json, os, sys, time
t0 = time.perf_counter()
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
"""

# convert_variables_to_constants_v2 on a concrete function `fn`, then the write.
TF_V2_FREEZE = r"""
t2 = time.perf_counter()
frozen = convert_variables_to_constants_v2(fn)
with open(sys.argv[2], "wb") as f:
    f.write(frozen.graph.as_graph_def().SerializeToString())
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "freeze": t3 - t2}))
"""

TF_KERAS = TIMED_PRELUDE + r"""
import tensorflow as tf, keras
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
t1 = time.perf_counter()
model = keras.models.load_model(sys.argv[1], compile=False)
fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
    tf.TensorSpec(model.inputs[0].shape, model.inputs[0].dtype))
""" + TF_V2_FREEZE

TF_SAVEDMODEL = TIMED_PRELUDE + r"""
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
t1 = time.perf_counter()
loaded = tf.saved_model.load(sys.argv[1])  # kept alive: the signature refers to its variables
fn = loaded.signatures["serving_default"]
""" + TF_V2_FREEZE

TF_CHECKPOINT = TIMED_PRELUDE + r"""
import tensorflow as tf
from tensorflow.python.tools import freeze_graph
t1 = time.perf_counter()
ckpt = tf.train.latest_checkpoint(sys.argv[1])
freeze_graph.freeze_graph(input_graph=None, input_saver=None, input_binary=True, input_checkpoint=ckpt,
                          output_node_names="y", restore_op_name=None, filename_tensor_name=None,
                          output_graph=sys.argv[2], clear_devices=True, initializer_nodes="",
                          input_meta_graph=ckpt + ".meta")
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": 0.0, "freeze": t2 - t1}))
"""

TFFORGE = TIMED_PRELUDE + r"""
import tensorflow as tf, keras
t1 = time.perf_counter()
from tfforge.convert import freeze
extra = json.loads(sys.argv[3])
result = freeze(sys.argv[1], sys.argv[2], **extra)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": result.seconds["load"], "write": result.seconds["write"],
                  "freeze": t2 - t1}))
"""


def run_py(code, *args, out=None, timeout=1800, reps=1):
    """`out`: the output path among args, removed untimed before each run."""
    timed = sample(lambda: subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                                          text=True, timeout=timeout),
                   reps=reps, before=fresh_output(out) if out else None)
    proc, wall = timed.result, timed.best
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    phases = json.loads(proc.stdout.strip().splitlines()[-1])
    phases["end_to_end"] = wall
    return phases


def run_cli(args, out, timeout=1800, reps=1):
    timed = sample(lambda: subprocess.run([os.path.join(os.path.dirname(sys.executable), "tfforge"), *args],
                                          capture_output=True, text=True, timeout=timeout),
                   reps=reps, before=fresh_output(out))
    if timed.result.returncode != 0:
        raise RuntimeError(timed.result.stderr[-3000:])
    return timed.best


def check_same(a, b, feed_name, units):
    """Both frozen graphs compute the same thing (run in a child process to keep this one light)."""
    code = r"""
import os, sys, numpy as np
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import tensorflow as tf
def run(path, out):
    gd = tf.compat.v1.GraphDef(); gd.ParseFromString(open(path, "rb").read())
    g = tf.Graph()
    with g.as_default(): tf.compat.v1.import_graph_def(gd, name="")
    with tf.compat.v1.Session(graph=g) as s:
        return s.run(out, {sys.argv[3] + ":0": x})
x = np.random.default_rng(0).standard_normal((2, int(sys.argv[4]))).astype(np.float32)
def output_of(path):
    gd = tf.compat.v1.GraphDef(); gd.ParseFromString(open(path, "rb").read())
    used = {i.split(":")[0].lstrip("^") for n in gd.node for i in n.input}
    return [n.name for n in gd.node if n.name not in used and n.op not in ("NoOp", "Const")][0] + ":0"
ya, yb = run(sys.argv[1], output_of(sys.argv[1])), run(sys.argv[2], output_of(sys.argv[2]))
print(float(np.max(np.abs(ya - yb))))
"""
    proc = subprocess.run([sys.executable, "-c", code, a, b, feed_name, str(units)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return float(proc.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="8 x Dense 1024 (34 MB) for a fast check")
    parser.add_argument("--formats", default="keras,savedmodel,checkpoint", help="which sources to run")
    parser.add_argument("--workdir", help="keep the models here (default: a temporary directory)")
    parser.add_argument("--reps", type=int, default=1,
                        help="runs of each side (end to end alternating TensorFlow and tfforge, then the tfforge freeze "
                             "step); the best counts")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "bench_freeze.json"))
    args = parser.parse_args()
    if args.quick:
        args.units = 1024
    tmp = tempfile.TemporaryDirectory(prefix="bench-freeze-") if not args.workdir else None
    work = args.workdir or tmp.name
    os.makedirs(work, exist_ok=True)
    if not all(os.path.exists(os.path.join(work, p)) for p in ("model.keras", "saved", "ckpt")):
        print(f"building {args.layers} x Dense {args.units} models in {work} ...", flush=True)
        run_py(MAKE_MODELS + "\nprint('{}')", args.units, args.layers, work)
    weight_mb = args.layers * (args.units * args.units + args.units) * 4 / 1e6
    results = {"model": f"{args.layers} x Dense {args.units}", "weights_MB": round(weight_mb, 1), "formats": {}}
    if os.path.exists(args.out):  # a run of some formats updates those and keeps the others of the same model
        with open(args.out) as f:
            previous = json.load(f)
        if previous.get("model") == results["model"]:
            results["formats"] = previous.get("formats", {})
    cases = [
        ("keras", TF_KERAS, os.path.join(work, "model.keras"), {}),
        ("savedmodel", TF_SAVEDMODEL, os.path.join(work, "saved"), {}),
        ("checkpoint", TF_CHECKPOINT, os.path.join(work, "ckpt"), {"outputs": "y"}),
    ]
    for name, tf_code, src, extra in cases:
        if name not in args.formats.split(","):
            continue
        load_before = os.getloadavg()[0]
        tf_out, ff_out = os.path.join(work, f"tf_{name}.pb"), os.path.join(work, f"tfforge_{name}.pb")
        print(f"[{name}] TensorFlow ...", flush=True)
        cli_args = ["freeze", src, ff_out] + (["--outputs", extra["outputs"]] if extra else [])
        anchor, cli = None, None
        for _ in range(args.reps):  # alternating, so both sides see the same machine load
            run = run_py(tf_code, src, tf_out, out=tf_out)
            anchor = run if anchor is None or run["end_to_end"] < anchor["end_to_end"] else anchor
            cli = min(cli or float("inf"), run_cli(cli_args, ff_out))
        print(f"[{name}] tfforge ...", flush=True)
        ours = min((run_py(TFFORGE, src, ff_out, json.dumps(extra), out=ff_out) for _ in range(args.reps)),
                   key=lambda phases: phases["freeze"])
        diff = check_same(tf_out, ff_out, "x", args.units)
        entry = {
            "tensorflow": {k: round(v, 3) for k, v in anchor.items()},
            "tfforge": {k: round(v, 3) for k, v in ours.items()},
            "tfforge_cli_end_to_end": round(cli, 3),
            "reps": args.reps,
            "freeze_step_speedup": round(anchor["freeze"] / ours["freeze"], 1),
            "end_to_end_speedup": round(anchor["end_to_end"] / cli, 1),
            "max_abs_diff_vs_tensorflow": diff,
            "pb_MB": round(os.path.getsize(ff_out) / 1e6, 1),
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1-minute, before and after
        }
        results["formats"][name] = entry
        print(f"  TF: freeze step {anchor['freeze']:.2f} s, end to end {anchor['end_to_end']:.2f} s | tfforge: freeze "
              f"step {ours['freeze']:.2f} s (splice+write {ours['write']:.2f} s), CLI end to end {cli:.2f} s | "
              f"{entry['freeze_step_speedup']}x / {entry['end_to_end_speedup']}x, max diff {diff:g}, load average "
              f"{load_before:.2f} -> {os.getloadavg()[0]:.2f}", flush=True)
        for p in (tf_out, ff_out):
            os.remove(p)
    results["machine"] = machine_info()  # load average at the end of the run
    write_json(results, args.out)
    print(f"wrote {args.out}")
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
