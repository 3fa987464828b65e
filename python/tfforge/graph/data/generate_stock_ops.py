"""Writes stock_ops.txt: every op type registered by stock TensorFlow (one per line), so `tfforge
inspect` can flag custom ops without TensorFlow installed. A developer tool, run by hand on a new
TensorFlow release (without tfforge's op library loaded):
    python python/tfforge/graph/data/generate_stock_ops.py
"""

import os

import tensorflow as tf
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session as c_api


def main():
    buf = c_api.TF_GetAllOpList()
    ops = op_def_pb2.OpList()
    ops.ParseFromString(c_api.TF_GetBuffer(buf))
    names = sorted({op.name for op in ops.op if not op.name.startswith("Tfforge")})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stock_ops.txt")
    with open(path, "w") as f:
        f.write(f"# Op types registered by TensorFlow {tf.__version__} (generate_stock_ops.py)\n")
        f.write("\n".join(names) + "\n")
    print(f"{len(names)} ops -> {path}")


if __name__ == "__main__":
    main()
