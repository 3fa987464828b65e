"""Optimized SavedModels loaded the way a user's serving process loads them: a fresh Python that
imports only TensorFlow and tfforge.ops, shared by the optimize tests."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import tensorflow as tf


def run_in_fresh_process(cases: dict, tmp_path) -> dict:
    """cases: name -> (source SavedModel, optimized SavedModel, feeds: the source's serving_default ->
    its inputs). Runs each source's serving_default on its feeds here, then loads each optimized SavedModel in a fresh process and runs
    the same feeds. Returns name -> {"error": max abs difference from the source, "ops": op types in
    its functions, "signatures": its signature names}."""
    paths = {}
    for name, (src, dst, feeds_for) in cases.items():
        fn = tf.saved_model.load(str(src)).signatures["serving_default"]
        feeds = feeds_for(fn)
        expected = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in feeds.items()}).items()}
        np.savez(tmp_path / f"{name}_in.npz", **feeds)
        np.savez(tmp_path / f"{name}_out.npz", **expected)
        paths[name] = str(dst)
    code = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf
        import tfforge.ops
        out = {{}}
        for name, path in {paths!r}.items():
            loaded = tf.saved_model.load(path)
            fn = loaded.signatures["serving_default"]
            feeds = dict(np.load({str(tmp_path)!r} + f"/{{name}}_in.npz"))
            want = dict(np.load({str(tmp_path)!r} + f"/{{name}}_out.npz"))
            got = fn(**{{k: tf.constant(v) for k, v in feeds.items()}})
            ops = {{n.op for f in fn.graph.as_graph_def().library.function for n in f.node_def}}
            out[name] = {{"error": max(float(np.max(np.abs(got[k].numpy() - want[k]))) for k in want),
                          "ops": sorted(ops), "signatures": sorted(loaded.signatures)}}
        print(json.dumps(out))
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
