"""FrozenGraph: a tfforge.graph.Graph whose variables are Consts, with the inputs and outputs a frozen
model is used by. The Consts' weight bytes are borrowed: numpy arrays, or StoredWeight ranges of a
checkpoint shard or weights file that the graph engine's writer streams from the file when it writes
the graph (read in chunks, CRC32C-checked on the bytes written). Either way they are read once and
written once, never copied into a protobuf message."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from tfforge.errors import ConversionError, GraphError
from tfforge.graph.graph import Graph

_TWO_GIB = 2**31


@dataclass(frozen=True)
class StoredWeight:
    """A weight left in a file until the graph is written: `stored` (tfforge._native.StoredBytes) holds
    its little-endian bytes, of numpy `dtype` and `shape`."""
    stored: object
    dtype: np.dtype
    shape: tuple

    @property
    def nbytes(self) -> int:
        return int(self.stored.size)

    def numpy(self) -> np.ndarray:
        """The values, read and checked now (a copy)."""
        return np.frombuffer(self.stored.read(), dtype=self.dtype).reshape(self.shape)

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)


def stored_weight(stored, dtype, shape) -> StoredWeight | None:
    """A StoredWeight when `stored` holds exactly the bytes of `shape` x `dtype`, else None."""
    dtype, shape = np.dtype(dtype), tuple(int(d) for d in shape)
    if stored is None or stored.size != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize or not stored.size:
        return None
    return StoredWeight(stored, dtype, shape)


@dataclass
class FrozenGraph:
    graph: Graph                                   # native graph, weights spliced into its Consts
    weights: dict = field(default_factory=dict)    # Const node name -> np.ndarray or StoredWeight (the Const's bytes)
    inputs: list = field(default_factory=list)     # placeholder node names
    outputs: list = field(default_factory=list)    # output tensor names ("node:0")
    notes: list = field(default_factory=list)      # things the user should know (printed by the CLI)
    source_format: str = ""

    @property
    def weight_bytes(self) -> int:
        return sum(int(a.nbytes) for a in self.weights.values())

    def write(self, path: str) -> int:
        """Writes the GraphDef atomically (.pbtxt / .txt as text, anything else binary); returns its size
        in bytes."""
        path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        if path.lower().endswith((".pbtxt", ".txt")):
            from tfforge.graph import text
            text.write_text(path, self.graph.to_bytes(), text.GRAPH_DEF)
            return os.path.getsize(path)
        self.graph._native.save(path)  # noqa: SLF001 (binary whatever the name: never a MetaGraphDef)
        size = os.path.getsize(path)
        if size >= _TWO_GIB:
            self.notes.append(f"{path} is {size / 2**30:.2f} GiB: TensorFlow's protobuf parser cannot load "
                              "GraphDefs of 2 GiB or more; keep the weights in a SavedModel instead")
        return size

    write_pb = write

    def to_graph_def(self):
        """The complete GraphDef as a TensorFlow proto (for the TensorFlow-only steps: running it,
        building a SavedModel, TFLite)."""
        from tfforge._tf import tf
        return tf().compat.v1.GraphDef.FromString(self.graph.to_bytes())


def load_graph(path: str) -> Graph:
    """A binary or text GraphDef (told apart by content, whatever the file's name), natively."""
    from tfforge import formats, graph
    path = os.fspath(path)
    try:
        kind = formats.detect(path)
        if kind not in (formats.GRAPHDEF, formats.GRAPHDEF_TEXT):
            raise ConversionError(f"not a GraphDef (this is a {kind} file)", path=path)
        return graph.load(path)
    except GraphError as exc:
        raise ConversionError(f"not a valid GraphDef: {exc.message}", path=path) from None


def read_graph_def(path: str):
    """A binary or text GraphDef file as a TensorFlow proto (read natively, parsed once by protobuf)."""
    from tfforge._tf import tf
    return tf().compat.v1.GraphDef.FromString(load_graph(path).to_bytes())


def write_graph_def(graph_def, path: str) -> int:
    """Writes a TensorFlow GraphDef proto as text (.pbtxt / .txt) or binary, atomically."""
    frozen = FrozenGraph(Graph.from_bytes(graph_def.SerializeToString(), path=os.fspath(path)))
    return frozen.write(path)


def contiguous(array) -> np.ndarray | StoredWeight:
    """C-contiguous without copying when it already is (np.ascontiguousarray turns 0-d into 1-d); a
    StoredWeight as it is."""
    if isinstance(array, StoredWeight):
        return array
    array = np.asarray(array)
    return array if array.flags.c_contiguous else array.copy(order="C")
