"""How much of a .tflite the XNNPack delegate takes: asked of the LiteRT interpreter itself.

The interpreter applies XNNPack (its default CPU delegate) in allocate_tensors() and appends one
DELEGATE node per partition it took; the nodes a partition replaced are the producers reachable
backwards from the partition's outputs without crossing its inputs. Every other node runs on the
reference (builtin) kernels."""

from __future__ import annotations

import collections
import os
from dataclasses import dataclass, field


@dataclass
class Delegation:
    nodes: int                      # operators in the model
    delegated: int                  # of them, replaced by XNNPack
    partitions: int                 # DELEGATE nodes (1 when XNNPack takes the graph whole)
    left: list = field(default_factory=list)        # op names of the nodes left to the builtin kernels
    dynamic: list = field(default_factory=list)     # tensors whose shape is only known at run time
    interpreter: str = ""

    @property
    def whole(self) -> bool:
        return self.nodes > 0 and self.delegated == self.nodes and self.partitions == 1 and not self.dynamic

    def summary(self) -> str:
        if self.whole:
            return f"XNNPack takes the whole graph: all {self.nodes} ops in one partition, every shape static"
        text = f"XNNPack takes {self.delegated} of {self.nodes} ops in {self.partitions} partition(s)"
        if self.left:
            counts = collections.Counter(self.left)
            text += "; left to the reference kernels: " + ", ".join(f"{op} x{n}" if n > 1 else op
                                                                     for op, n in sorted(counts.items()))
        if self.dynamic:
            text += f"; {len(self.dynamic)} tensor(s) have run-time shapes"
        return text


def _interpreter(path_or_bytes):
    """(interpreter, name) with the default delegates on: ai-edge-litert's, else tf.lite's."""
    content = None if isinstance(path_or_bytes, (str, os.PathLike)) else bytes(path_or_bytes)
    kwargs = {"model_path": os.fspath(path_or_bytes)} if content is None else {"model_content": content}
    try:
        from ai_edge_litert.interpreter import Interpreter
        return Interpreter(**kwargs), "ai_edge_litert"
    except ImportError:
        from tfforge._tf import tf
        return tf().lite.Interpreter(**kwargs), "tf.lite"


def xnnpack_delegation(path_or_bytes) -> Delegation:
    """Loads the model with XNNPack applied (as LiteRT does by default on CPU) and counts what it took.
    Raises what the interpreter raises when it cannot load the model (e.g. unresolved custom ops)."""
    from tfforge._tf import native_stderr_quiet
    with native_stderr_quiet():
        interp, name = _interpreter(path_or_bytes)
        interp.allocate_tensors()
    ops = interp._get_ops_details()  # noqa: SLF001 - the interpreter's own node list, DELEGATE nodes included
    delegates = [op for op in ops if op["op_name"] == "DELEGATE"]
    originals = [op for op in ops if op["op_name"] != "DELEGATE"]
    producer = {int(t): op["index"] for op in originals for t in op["outputs"] if t >= 0}
    covered = set()
    for d in delegates:
        boundary = {int(t) for t in d["inputs"]}
        todo = [int(t) for t in d["outputs"]]
        while todo:
            t = todo.pop()
            node = producer.get(t)
            if t in boundary or node is None or node in covered:
                continue
            covered.add(node)
            todo.extend(int(i) for i in ops[node]["inputs"] if i >= 0)
    dynamic = [t["name"] for t in interp.get_tensor_details() if any(int(d) < 0 for d in t["shape_signature"])]
    return Delegation(nodes=len(originals), delegated=len(covered), partitions=len(delegates),
                      left=[op["op_name"] for op in originals if op["index"] not in covered], dynamic=dynamic,
                      interpreter=name)
