"""Graph and Node: the Python face of the native GraphDef index (tfforge._native.GraphDef)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Iterator

from tfforge import _native
from tfforge.errors import GraphError
from tfforge.graph import dtypes
from tfforge.graph.tensor import Tensor

if TYPE_CHECKING:
    import numpy as np

TEXT_SUFFIXES = (".pbtxt", ".txt")


def _simplify_shape(shape: dict):
    if shape.get("unknown_rank"):
        return None
    return tuple(d.get("size", 0) for d in shape.get("dim", []))


def simplify_attr(value: dict):
    """A decoded AttrValue dict as a plain Python value: bytes, int, float, bool, a 'DT_*' name, a shape
    tuple (None for unknown rank, -1 for unknown dimensions), a list, or {'name', 'attr'} for functions."""
    if not value:
        return None
    key, v = next(iter(value.items())) if len(value) == 1 else _oneof(value)
    if key == "shape":
        return _simplify_shape(v)
    if key == "list":
        for k in ("s", "i", "f", "b", "type", "shape", "tensor", "func"):
            if k in v:
                items = v[k]
                if k == "shape":
                    return [_simplify_shape(s) for s in items]
                if k == "func":
                    return [_simplify_func(f) for f in items]
                return list(items)
        return []
    if key == "func":
        return _simplify_func(v)
    return v


def _oneof(value: dict):
    for k in ("list", "s", "i", "f", "b", "type", "shape", "tensor", "placeholder", "func"):
        if k in value:
            return k, value[k]
    return next(iter(value.items()))


def _simplify_func(f: dict) -> dict:
    return {"name": f.get("name", ""), "attr": {k: simplify_attr(v) for k, v in f.get("attr", {}).items()}}


class AttrMap(Mapping):
    """A node's attributes, decoded on access; tensor attributes come back as lazy Tensor objects."""

    _TENSOR = 8  # AttrValue.tensor

    def __init__(self, native_graph, node: str):
        self._g, self._node = native_graph, node
        self._kinds = dict(native_graph.attr_kinds(node))

    def __getitem__(self, key: str):
        kind = self._kinds[key]
        if kind == self._TENSOR:
            return Tensor(self._g, self._node, key)
        return simplify_attr(self._g.attr_value(self._node, key))

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)

    def raw(self, key: str) -> bytes:
        """The AttrValue wire bytes."""
        return self._g.attr_bytes(self._node, key)


class Node:
    """One NodeDef: name, op, inputs (control inputs as '^name'), device, attr (lazy)."""

    __slots__ = ("name", "op", "inputs", "device", "_g")

    def __init__(self, native_graph, name: str, op: str, inputs: list[str], device: str):
        self.name, self.op, self.inputs, self.device, self._g = name, op, inputs, device, native_graph

    @property
    def attr(self) -> AttrMap:
        return AttrMap(self._g, self.name)

    @property
    def control_inputs(self) -> list[str]:
        return [i[1:] for i in self.inputs if i.startswith("^")]

    def __repr__(self) -> str:
        return f"Node(name={self.name!r}, op={self.op!r}, inputs={self.inputs!r})"


class Graph:
    """A GraphDef backed by the native engine. Nodes are read from the index; edits and passes run
    natively and never build Python protobuf objects."""

    def __init__(self, native, *, path: str | None = None, kind: str = "graphdef", meta: dict | None = None):
        self._native = native
        self.path = path
        self.kind = kind  # graphdef | meta_graph | saved_model
        # For graphs read from a .meta or SavedModel: {'header': bytes (MetaGraphDef without
        # graph_def), 'tags': [...], 'tag_sets': [[...], ...]}.
        self.meta = meta
        self._nodes: list[Node] | None = None

    # --- construction ---
    @classmethod
    def from_bytes(cls, data, path: str | None = None) -> "Graph":
        """Indexes GraphDef wire bytes; bytes-like objects are used in place, not copied."""
        return cls(_native.graph_from_buffer(data, path or ""), path=path)

    # --- reading ---
    @property
    def nodes(self) -> list[Node]:
        if self._nodes is None:
            self._nodes = [Node(self._native, *t) for t in self._native.nodes()]
        return self._nodes

    def node(self, name: str) -> Node:
        i = self._native.find(name)
        if i < 0:
            raise GraphError("no such node in the graph", node=name, path=self.path)
        return self.nodes[i]

    def __contains__(self, name: str) -> bool:
        return self._native.find(name) >= 0

    def __len__(self) -> int:
        return len(self._native)

    @property
    def library_functions(self) -> list[str]:
        return self._native.library_functions()

    def called_functions(self) -> list[str]:
        """Library functions the nodes call, directly or through other functions."""
        return self._native.called_functions()

    def execution_order(self) -> list[str]:
        """Node names with every node after its inputs; raises GraphError on a cycle or a missing input."""
        return self._native.execution_order()

    def summary(self) -> dict:
        from tfforge.graph.inspect import summarize_graph
        return summarize_graph(self)

    # --- editing ---
    def apply(self, transforms, inputs=None, outputs=None) -> "Graph":
        """Runs transform_graph-style passes ("strip_unused_nodes remove_device" or a list of them) and
        returns a new Graph; passes tfforge does not implement natively run through TensorFlow."""
        from tfforge.graph.transforms import apply_transforms
        native = apply_transforms(self._native, transforms, _names(inputs), _names(outputs))
        return Graph(native, path=self.path, kind=self.kind, meta=self.meta)

    def replace_with_const(self, name: str, value: np.ndarray, *, borrow: bool = False) -> None:
        """Turns node `name` into a Const holding `value` (dtype, shape and bytes from the array). With
        borrow=True a numeric array's bytes are not copied: the graph keeps the array and writes from it
        (a view of a memory-mapped file stays one), so it must not change while the graph is in use."""
        import numpy as np
        arr = np.asarray(value)
        dtype = dtypes.from_numpy(arr.dtype)
        if dtype == 7:
            flat = [v if isinstance(v, bytes) else str(v).encode() for v in arr.reshape(-1).tolist()]
            self._native.replace_with_string_const(name, list(arr.shape), flat)
        else:
            flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
            self._native.replace_with_const(name, dtype, list(arr.shape), flat, borrow)
        self._nodes = None

    def replace_with_stored_const(self, name: str, stored, dtype, shape) -> None:
        """Turns node `name` into a Const of numpy `dtype` and `shape` whose bytes stay in a file range
        (`tfforge._native.StoredBytes`, e.g. `Checkpoint.stored(name)`) until the graph is written: the
        writer streams them from the file and checks their CRC32C on the bytes it writes."""
        self._native.replace_with_stored_const(name, dtypes.from_numpy(dtype), [int(d) for d in shape], stored)
        self._nodes = None

    def rewrite_variable_readers(self, frozen: dict[str, int]) -> None:
        """After the variables `frozen` (node -> DataType number) became Consts: ReadVariableOp ->
        Identity, ResourceGather -> GatherV2, VariableShape -> Shape, Ref* -> plain ops, and ops passing
        the handle on carry the value's dtype (cc/graph/freeze.h)."""
        self._native.rewrite_variable_readers(list(frozen.items()))
        self._nodes = None

    def rename_nodes(self, renames: dict[str, str]) -> None:
        """Renames nodes and every reference to them (inputs, colocation attrs)."""
        self._native.rename_nodes(dict(renames))
        self._nodes = None

    def add_identity(self, name: str, input: str, dtype: int) -> None:  # noqa: A002 (NodeDef's field name)
        """Appends an Identity node of DataType `dtype` reading tensor `input`."""
        self._native.add_identity(name, input, dtype)
        self._nodes = None

    # --- writing ---
    def to_bytes(self) -> bytes:
        return self._native.to_bytes()

    def meta_graph_bytes(self) -> bytes:
        """The MetaGraphDef this graph came from (a .meta or SavedModel), with the current graph in it."""
        if not self.meta:
            raise GraphError("this graph was not read from a .meta file or a SavedModel", path=self.path)
        return _native.meta_graph_with_graph(self.meta["header"], self._native)

    def save(self, path: str | os.PathLike) -> None:
        """Writes atomically: a .pbtxt/.txt name gets text format, a .meta name a MetaGraphDef
        (for graphs read from one), anything else binary GraphDef."""
        path = os.fspath(path)
        if path.endswith(TEXT_SUFFIXES):
            from tfforge.graph import text
            if path.endswith(".meta.txt") or (self.meta and path.endswith(".meta.pbtxt")):
                text.write_text(path, self.meta_graph_bytes(), "tensorflow.MetaGraphDef")
            else:
                text.write_text(path, self.to_bytes(), "tensorflow.GraphDef")
        elif path.endswith(".meta") and self.meta:
            from tfforge._io import write_bytes
            write_bytes(path, self.meta_graph_bytes())
        else:
            self._native.save(path)

    def __repr__(self) -> str:
        return f"Graph({len(self)} nodes, {len(self.library_functions)} functions, path={self.path!r})"


def _names(v) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [s.strip() for s in v.split(",") if s.strip()]
    return [str(s) for s in v]
