"""Inspects and prunes a small embedded TF1 graph (a while loop, control dependencies, Identity and
CheckNumerics nodes, an unused branch) with the native graph engine; no TensorFlow needed."""

from __future__ import annotations

import os

import tfforge.graph as tg
from tfforge.graph import inspect as gi
from tfforge.graph import text

DEMO_GRAPH = os.path.join(os.path.dirname(tg.__file__), "data", "demo_graph.pb")
TRANSFORMS = "strip_unused_nodes remove_device remove_nodes(op=Identity, op=CheckNumerics) sort_by_execution_order"


def demo_step(workdir: str) -> str:
    report = gi.inspect(DEMO_GRAPH)
    g = tg.load(DEMO_GRAPH)
    inputs = [i["name"] for i in report["inputs"] if i["name"] == "x"]
    pruned = g.apply(TRANSFORMS, inputs=inputs, outputs=["out"])
    out = os.path.join(workdir, "demo_pruned.pb")
    pruned.save(out)
    pbtxt = os.path.join(workdir, "demo_pruned.pbtxt")
    text.binary_to_text(out, pbtxt)
    removed = sorted({n.name for n in g.nodes} - {n.name for n in pruned.nodes})
    top_ops = ", ".join(f"{op} x{n}" for op, n in list(report["ops"].items())[:5])
    return "\n".join([
        f"inspect: {report['node_count']} nodes, inputs "
        + ", ".join(f"{i['name']}:{i['dtype']}{i['shape']}" for i in report["inputs"])
        + f"; likely outputs {', '.join(o['name'] for o in report['outputs'])}",
        f"ops: {top_ops}, ...",
        f"transform '{TRANSFORMS}'",
        f"  --inputs {','.join(inputs)} --outputs out: {len(g)} -> {len(pruned)} nodes",
        f"  removed: {', '.join(removed[:8])}{' ...' if len(removed) > 8 else ''}",
        f"wrote {os.path.basename(out)} ({os.path.getsize(out)} B) and {os.path.basename(pbtxt)} "
        f"({os.path.getsize(pbtxt)} B, text format)",
    ])
