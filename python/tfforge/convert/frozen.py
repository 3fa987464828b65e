"""FrozenGraph: a weightless GraphDef whose variable nodes are already Consts, plus the weights that
fill them, as numpy arrays that are usually views of memory-mapped checkpoint or weights files.

Writing a .pb streams the GraphDef bytes with each weight's bytes spliced in natively
(cc/graph/convert_splice.cc), so the weights are read once from the mapped file and written once,
without passing through a protobuf message or a TensorFlow variable."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from tfforge._io import write_bytes
from tfforge.errors import ConversionError


@dataclass
class FrozenGraph:
    graph_def: object                      # tf.compat.v1.GraphDef; weight Consts lack their `value` attr
    weights: dict = field(default_factory=dict)   # Const node name -> np.ndarray
    inputs: list = field(default_factory=list)    # placeholder node names
    outputs: list = field(default_factory=list)   # output tensor names ("node:0")
    notes: list = field(default_factory=list)     # things the user should know (printed by the CLI)
    source_format: str = ""

    @property
    def weight_bytes(self) -> int:
        return sum(int(a.nbytes) for a in self.weights.values())

    def _native_and_python_consts(self):
        from tfforge._tf import tf
        native, python = [], {}
        for name, array in self.weights.items():
            if array.dtype.kind in "OUS" or not array.flags.c_contiguous:
                python[name] = array
                continue
            dtype = tf().as_dtype(array.dtype).as_datatype_enum
            native.append((name, dtype, [int(d) for d in array.shape], array.reshape(-1).view(np.uint8)))
        return native, python

    def _skeleton_bytes(self, python_consts) -> bytes:
        from tfforge._tf import tf
        if not python_consts:
            return self.graph_def.SerializeToString()
        skeleton = tf().compat.v1.GraphDef()
        skeleton.CopyFrom(self.graph_def)
        for node in skeleton.node:
            if node.name in python_consts:
                node.attr["value"].tensor.CopyFrom(tf().make_tensor_proto(python_consts[node.name]))
        return skeleton.SerializeToString()

    def write_pb(self, path: str) -> int:
        """Writes the binary GraphDef atomically; returns its size in bytes."""
        from tfforge import _native
        native, python = self._native_and_python_consts()
        size = _native.splice_consts_to_file(self._skeleton_bytes(python), native, os.fspath(path))
        if size >= 2**31:
            self.notes.append(f"{path} is {size / 2**30:.2f} GiB: TensorFlow's protobuf parser cannot load "
                              "GraphDefs of 2 GiB or more; keep the weights in a SavedModel instead")
        return size

    def to_graph_def(self):
        """The complete GraphDef as a TensorFlow proto (via the native writer and one parse)."""
        from tfforge._tf import tf
        with tempfile.TemporaryDirectory(prefix="tfforge-") as tmp:  # scratch, not an output
            path = os.path.join(tmp, "frozen.pb")
            self.write_pb(path)
            graph_def = tf().compat.v1.GraphDef()
            with open(path, "rb") as f:
                graph_def.ParseFromString(f.read())
        return graph_def

    def write(self, path: str) -> int:
        """.pbtxt -> text format, anything else -> binary."""
        if os.fspath(path).lower().endswith((".pbtxt", ".txt")):
            return write_graph_def(self.to_graph_def(), path)
        return self.write_pb(path)


def write_graph_def(graph_def, path: str) -> int:
    """Writes a GraphDef proto as text (.pbtxt / .txt) or binary, atomically."""
    from google.protobuf import text_format
    path = os.fspath(path)
    data = text_format.MessageToString(graph_def).encode() if path.lower().endswith((".pbtxt", ".txt")) \
        else graph_def.SerializeToString()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_bytes(path, data)
    return len(data)




def read_graph_def(path: str):
    """Reads a binary or text GraphDef (told apart by content, whatever the file's name)."""
    from google.protobuf import text_format
    from tfforge import formats
    from tfforge._tf import tf
    graph_def = tf().compat.v1.GraphDef()
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    try:
        if formats.is_text(path):
            text_format.Merge(data.decode("utf-8"), graph_def)
        else:
            graph_def.ParseFromString(data)
    except Exception as exc:
        raise ConversionError(f"not a valid GraphDef: {exc}", path=path) from None
    return graph_def


def contiguous(array) -> np.ndarray:
    """C-contiguous without copying when it already is (np.ascontiguousarray turns 0-d into 1-d)."""
    array = np.asarray(array)
    return array if array.flags.c_contiguous else array.copy(order="C")
