"""`tfforge inspect`: what a model file holds, like summarize_graph + `saved_model_cli show --all`.

Dispatch is a table keyed by the kind tfforge.formats detects from the file's content. This module
registers the graph kinds (GraphDef, MetaGraphDef, SavedModel); other kinds plug in with
`register_kind(kind, detect, inspect, render)` from a provider module listed in PROVIDER_MODULES
(imported when present), e.g.

    # tfforge/convert/inspectors.py
    from tfforge.graph.inspect import register_kind
    register_kind(formats.TFLITE, None, inspect_tflite, render_tflite)   # None: tfforge.formats decides

A `detect(path) -> bool` function instead of None adds a kind tfforge.formats does not know.

`inspect(path)` returns a JSON-ready dict; `render(report)` the text the CLI prints.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from tfforge import _native
from tfforge._console import format_table, human_bytes
from tfforge.errors import GraphError
from tfforge.graph import dtypes
from tfforge.graph.outputs import VARIABLE_OPS, detect_outputs

PROVIDER_MODULES = ("tfforge.convert.inspectors",)


@dataclass
class Kind:
    name: str
    detect: Callable[[str], bool] | None  # None: decided by tfforge.formats.detect
    inspect: Callable[..., dict]
    render: Callable[[dict], str] | None = None


_KINDS: dict[str, Kind] = {}
_providers_loaded = False


def register_kind(name: str, detect, inspect_fn, render_fn=None) -> None:
    """Adds (or replaces) a file kind. `detect(path) -> bool` is tried before the graph kinds;
    `inspect_fn(path, **options) -> dict`; `render_fn(report) -> str` (default: the graph renderer)."""
    _KINDS[name] = Kind(name, detect, inspect_fn, render_fn)


def kinds() -> list[str]:
    _load_providers()
    return list(_KINDS)


def _load_providers() -> None:
    global _providers_loaded
    if _providers_loaded:
        return
    _providers_loaded = True
    for mod in PROVIDER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name is None or not mod.startswith(exc.name):
                raise


def detect(path: str) -> str:
    _load_providers()
    for kind in _KINDS.values():
        if kind.detect is not None and kind.detect(path):
            return kind.name
    from tfforge import formats
    return formats.detect(path)


def inspect(path: str | os.PathLike, **options) -> dict:
    path = os.fspath(path)
    kind = detect(path)
    if kind not in _KINDS:
        raise GraphError(f"cannot inspect this kind of file ({kind}); known kinds: {', '.join(kinds())}", path=path)
    report = _KINDS[kind].inspect(path, **options)
    report.setdefault("path", path)
    report.setdefault("kind", kind)
    return report


def render(report: dict) -> str:
    kind = _KINDS.get(report.get("kind", ""))
    if kind and kind.render:
        return kind.render(report)
    return render_graph_report(report)


# --- graphs -------------------------------------------------------------------------------------

_stock_ops: frozenset | None = None


def stock_ops() -> frozenset:
    """Op types stock TensorFlow 2.21 registers (shipped as data; no TensorFlow needed)."""
    global _stock_ops
    if _stock_ops is None:
        path = os.path.join(os.path.dirname(__file__), "data", "stock_ops.txt")
        with open(path) as f:
            _stock_ops = frozenset(line.strip() for line in f if line.strip() and not line.startswith("#"))
    return _stock_ops


def _shape_of(attr_shape):
    return None if attr_shape is None else list(attr_shape)


def summarize_graph(g) -> dict:
    """The graph part of a report: inputs, likely outputs, op histogram, parameters, variables,
    custom ops, devices and functions."""
    nodes = g.nodes
    ops = Counter(n.op for n in nodes)
    inputs = []
    for n in nodes:
        if n.op in ("Placeholder", "PlaceholderV2"):
            a = n.attr
            inputs.append({"name": n.name, "dtype": dtypes.short_name(dtypes.number(a["dtype"])) if "dtype" in a else None,
                           "shape": _shape_of(a.get("shape")) if "shape" in a else None})
    op_of = {n.name: n.op for n in nodes}
    outputs = [{"name": name, "op": op_of[name]} for name in detect_outputs(g)]
    stats = g._native.const_stats()
    params = sum(max(s[3], 0) for s in stats)
    param_bytes = sum(s[4] for s in stats)
    variables = []
    for n in nodes:
        if n.op in VARIABLE_OPS:
            a = n.attr
            dt = dtypes.number(a["dtype"]) if "dtype" in a else 0
            shape = _shape_of(a.get("shape")) if "shape" in a else None
            size = None
            if shape is not None and all(d >= 0 for d in shape):
                count = 1
                for d in shape:
                    count *= d
                size = count * (_native_dtype_size(dt))
            variables.append({"name": n.name, "op": n.op, "dtype": dtypes.short_name(dt) if dt else None,
                              "shape": shape, "bytes": size})
    functions = g.library_functions
    called = set(g.called_functions())
    stock = stock_ops()
    fn_names = set(functions)
    unknown = sorted(op for op in ops if op not in stock and op not in fn_names)
    return {
        "node_count": len(nodes),
        "inputs": inputs,
        "outputs": outputs,
        "ops": dict(ops.most_common()),
        "parameters": {"count": params, "bytes": param_bytes, "const_nodes": len(stats)},
        "variables": variables,
        "custom_ops": [op for op in unknown if not op.startswith("Tfforge")],
        "tfforge_ops": [op for op in unknown if op.startswith("Tfforge")],
        "devices": sorted({n.device for n in nodes if n.device}),
        "functions": [{"name": f, "called": f in called} for f in functions],
    }


def _native_dtype_size(dt: int) -> int:
    np_type = dtypes.to_numpy(dt, strict=False)
    if np_type is None:
        return 0
    import numpy as np
    return np.dtype(np_type).itemsize if np_type is not np.object_ else 0


def _tensor_info(info: dict) -> dict:
    shape = info.get("tensor_shape", {})
    dims = None if shape.get("unknown_rank") else [d.get("size", 0) for d in shape.get("dim", [])]
    dt = info.get("dtype", "DT_INVALID")
    dt = dtypes.number(dt) if isinstance(dt, str) else dt
    return {"name": info.get("name", ""), "dtype": dtypes.short_name(dt) if dt else None, "shape": dims}


def _meta_sections(meta: dict) -> dict:
    decoded = _native.decode_message("tensorflow.MetaGraphDef", meta["header"])
    info = decoded.get("meta_info_def", {})
    sigs = {}
    for name, sig in sorted(decoded.get("signature_def", {}).items()):
        sigs[name] = {"method": sig.get("method_name", ""),
                      "inputs": {k: _tensor_info(v) for k, v in sorted(sig.get("inputs", {}).items())},
                      "outputs": {k: _tensor_info(v) for k, v in sorted(sig.get("outputs", {}).items())}}
    return {"tags": meta["tags"], "tag_sets": meta["tag_sets"], "signatures": sigs,
            "tensorflow_version": info.get("tensorflow_version", ""),
            "collections": sorted(decoded.get("collection_def", {}))}


def _node_names(tensors) -> str:
    return ",".join(dict.fromkeys(t["name"].split(":")[0] for t in tensors))


def _next_commands(path: str, kind: str, s: dict) -> list[str]:
    q = _quote(path)
    sigs = {k: v for k, v in (s.get("signatures") or {}).items() if not k.startswith("__")}
    sig = "serving_default" if "serving_default" in sigs else next(iter(sigs), None)
    if sig:  # a signature names the real inputs and outputs
        ins, outs = _node_names(sigs[sig]["inputs"].values()), _node_names(sigs[sig]["outputs"].values())
    else:
        ins = ",".join(i["name"] for i in s["inputs"] if i["name"] != "saver_filename")
        outs = ",".join(o["name"] for o in s["outputs"][:8])
    stem = os.path.splitext(os.path.basename(path.rstrip("/")))[0] or "model"
    cmds = []
    if kind in ("saved_model", "meta_graph", "meta_graph_text"):
        freeze = f"tfforge freeze {q} {stem}_frozen.pb"
        if sig and kind == "saved_model":
            freeze += f" --signature {sig}"
        elif outs:
            freeze += f" --outputs {outs}"
        cmds.append(freeze)
    if kind == "saved_model":
        cmds.append(f"tfforge convert {q} {stem}.tflite --to tflite")
    if outs:
        io = (f" --inputs {ins}" if ins else "") + f" --outputs {outs}"
        cmds.append(f"tfforge graph transform {q} {stem}_stripped.pb{io} "
                    "--transforms 'strip_unused_nodes remove_device remove_nodes(op=Identity,op=CheckNumerics) "
                    "sort_by_execution_order'")
    if kind in ("graphdef", "graphdef_text"):
        cmds.append(f"tfforge convert {q} {stem}_saved_model --to savedmodel"
                    + (f" --inputs {ins}" if ins else "") + (f" --outputs {outs}" if outs else ""))
        other = f"{stem}.pb" if kind == "graphdef_text" else f"{stem}.pbtxt"
        cmds.append(f"tfforge graph {'from-text' if kind == 'graphdef_text' else 'to-text'} {q} {other}")
    cmds.append(f"tfforge graph tensorboard {q} logs/{stem} && tensorboard --logdir logs/{stem}")
    return cmds


def _quote(path: str) -> str:
    import shlex
    return shlex.quote(path)


def inspect_graph(path: str, tags=None, **_ignored) -> dict:
    from tfforge.graph.loader import load
    g = load(path, tags=tags)
    report = {"path": path, "kind": g.kind if g.kind != "graphdef" else detect(path)}
    report.update(summarize_graph(g))
    if g.meta:
        report.update(_meta_sections(g.meta))
    report["next_commands"] = _next_commands(path, report["kind"], report)
    return report


def _register_graph_kinds():
    from tfforge import formats
    for kind in formats.GRAPH_KINDS:
        register_kind(kind, None, inspect_graph)


_register_graph_kinds()


def _fmt_shape(shape) -> str:
    if shape is None:
        return "unknown"
    return "(" + ", ".join("?" if d < 0 else str(d) for d in shape) + ")"


def render_graph_report(r: dict) -> str:
    out = [f"{r['path']}: {r['kind']}, {r['node_count']} nodes, {len(r['functions'])} library functions"]
    if r.get("tags") is not None:
        out.append(f"tags: {','.join(r['tags'])}" + (f"  (all tag sets: {'; '.join(','.join(t) for t in r['tag_sets'])})"
                                                     if len(r.get("tag_sets", [])) > 1 else ""))
        if r.get("tensorflow_version"):
            out.append(f"written by TensorFlow {r['tensorflow_version']}")
    for name, sig in (r.get("signatures") or {}).items():
        out.append(f"\nsignature '{name}' ({sig['method']}):")
        rows = [("input", k, v["name"], v["dtype"], _fmt_shape(v["shape"])) for k, v in sig["inputs"].items()]
        rows += [("output", k, v["name"], v["dtype"], _fmt_shape(v["shape"])) for k, v in sig["outputs"].items()]
        out.append(format_table(rows, ["", "key", "tensor", "dtype", "shape"]))
    out.append(f"\ninputs ({len(r['inputs'])} Placeholders):")
    out.append(format_table([(i["name"], i["dtype"], _fmt_shape(i["shape"])) for i in r["inputs"]],
                            ["name", "dtype", "shape"]) if r["inputs"] else "  none")
    out.append(f"\nlikely outputs ({len(r['outputs'])}):")
    out.append(format_table([(o["name"], o["op"]) for o in r["outputs"][:20]], ["name", "op"]) if r["outputs"] else "  none")
    if len(r["outputs"]) > 20:
        out.append(f"  ... and {len(r['outputs']) - 20} more")
    p = r["parameters"]
    out.append(f"\nparameters: {p['count']:,} in {p['const_nodes']} Const nodes ({human_bytes(p['bytes'])})")
    if r["variables"]:
        out.append(f"\nvariables ({len(r['variables'])}):")
        out.append(format_table([(v["name"], v["op"], v["dtype"], _fmt_shape(v["shape"]),
                                  human_bytes(v["bytes"]) if v["bytes"] is not None else "?") for v in r["variables"][:30]],
                                ["name", "op", "dtype", "shape", "size"]))
    out.append(f"\nop types ({len(r['ops'])}):")
    out.append(format_table(list(r["ops"].items())[:25], ["op", "count"]))
    if len(r["ops"]) > 25:
        out.append(f"  ... and {len(r['ops']) - 25} more")
    if r["custom_ops"]:
        out.append(f"\ncustom ops (not in stock TensorFlow): {', '.join(r['custom_ops'])}")
    if r["tfforge_ops"]:
        out.append(f"\ntfforge ops (need `import tfforge.ops`): {', '.join(r['tfforge_ops'])}")
    if r["devices"]:
        out.append(f"\ndevices: {', '.join(r['devices'])}")
    if r["functions"]:
        called = sum(f["called"] for f in r["functions"])
        out.append(f"\nlibrary functions ({len(r['functions'])}, {called} called from the graph):")
        out.extend(f"  {f['name']}" + ("" if f["called"] else "  (not called)") for f in r["functions"][:20])
        if len(r["functions"]) > 20:
            out.append(f"  ... and {len(r['functions']) - 20} more")
    out.append("\nnext:")
    out.extend(f"  {c}" for c in r["next_commands"])
    return "\n".join(out)
