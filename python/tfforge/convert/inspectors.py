"""`tfforge inspect` for checkpoints, .tflite and Keras .keras / .h5 files: registered as file kinds with
tfforge.graph.inspect (which imports this module when present).

Checkpoints list variables like inspect_checkpoint (dtype, shape, bytes; `tensor=NAME` prints one);
.tflite files their inputs, outputs, op histogram and quantization parameters (flatbuffer schema, no
interpreter run); Keras files their layers and weights read from config.json / HDF5 with h5py, without
loading the model or importing TensorFlow."""

from __future__ import annotations

import json
import zipfile
from collections import Counter

import numpy as np

from tfforge import formats
from tfforge._console import format_table, human_bytes
from tfforge.errors import ConversionError


# --- checkpoints ---------------------------------------------------------------------------------

def inspect_checkpoint(path: str, tensor: str | None = None, **_options) -> dict:
    from tfforge.checkpoint import Checkpoint
    prefix = formats.checkpoint_prefix(path)
    bundle = Checkpoint(prefix)
    variables = []
    for key in bundle.names():
        info = bundle.info(key)
        variables.append({"name": key, "dtype": info.dtype, "shape": list(info.shape), "bytes": info.nbytes})
    report = {"kind": "checkpoint", "prefix": prefix, "variables": variables,
              "total_bytes": sum(v["bytes"] for v in variables)}
    if tensor is not None:
        if tensor not in bundle:
            raise ConversionError(f"no tensor {tensor!r} in the checkpoint", path=prefix)
        value = bundle.read(tensor)
        report["tensor"] = {"name": tensor, "dtype": str(value.dtype), "shape": list(value.shape),
                            "value": np.array2string(value, threshold=200, edgeitems=4)}
    return report


def render_checkpoint(report: dict) -> str:
    rows = [(v["name"], v["dtype"], "x".join(map(str, v["shape"])) or "scalar", human_bytes(v["bytes"]))
            for v in report["variables"]]
    lines = [f"checkpoint {report['prefix']}: {len(rows)} tensors, {human_bytes(report['total_bytes'])}",
             format_table(rows, ["tensor", "dtype", "shape", "bytes"])]
    if "tensor" in report:
        t = report["tensor"]
        lines += ["", f"{t['name']} ({t['dtype']}, shape {t['shape']}):", t["value"]]
    return "\n".join(lines)


# --- TFLite ------------------------------------------------------------------------------------

def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def inspect_tflite(path: str, **_options) -> dict:
    schema = _schema()
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ConversionError("not a TFLite flatbuffer (no TFL3 identifier)", path=path, offset=4)
    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    builtin = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    tensor_type = {v: k.lower() for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    ops = Counter()
    subgraphs = []
    quantized = 0
    for sg in model.subgraphs or []:
        for op in sg.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            number = max(code.builtinCode, code.deprecatedBuiltinCode)
            name = builtin.get(number, str(number))
            if name == "CUSTOM":
                name = f"CUSTOM:{code.customCode.decode() if code.customCode else '?'}"
            ops[name] += 1

        def describe(i, sg=sg):
            t = sg.tensors[i]
            q = t.quantization
            entry = {"name": t.name.decode(), "dtype": tensor_type.get(t.type, str(t.type)),
                     "shape": [int(d) for d in (t.shapeSignature if t.shapeSignature is not None else t.shape)]}
            if q is not None and q.scale is not None and len(q.scale):
                entry["quantization"] = {"scale": [float(s) for s in q.scale[:4]],
                                         "zero_point": [int(z) for z in q.zeroPoint[:4]],
                                         "channels": int(len(q.scale))}
            return entry
        for t in sg.tensors or []:
            if t.quantization is not None and t.quantization.scale is not None and len(t.quantization.scale):
                quantized += 1
        subgraphs.append({"name": (sg.name or b"").decode(), "inputs": [describe(i) for i in sg.inputs],
                          "outputs": [describe(i) for i in sg.outputs], "tensors": len(sg.tensors or [])})
    signatures = [{"key": s.signatureKey.decode(), "inputs": [t.name.decode() for t in s.inputs or []],
                   "outputs": [t.name.decode() for t in s.outputs or []]} for s in model.signatureDefs or []]
    return {"kind": "tflite", "bytes": len(data), "version": model.version, "subgraphs": subgraphs,
            "signatures": signatures, "ops": dict(ops.most_common()), "quantized_tensors": quantized}


def render_tflite(report: dict) -> str:
    lines = [f"TFLite model, {human_bytes(report['bytes'])}, {len(report['subgraphs'])} subgraph(s), "
             f"{report['quantized_tensors']} quantized tensors"]
    for sig in report["signatures"]:
        lines.append(f"signature {sig['key']}: inputs {', '.join(sig['inputs'])} -> outputs {', '.join(sig['outputs'])}")
    main = report["subgraphs"][0] if report["subgraphs"] else {"inputs": [], "outputs": []}
    for title in ("inputs", "outputs"):
        rows = []
        for t in main[title]:
            q = t.get("quantization")
            qtext = "" if not q else f"scale {q['scale'][0]:.4g} zero {q['zero_point'][0]}" + (
                f" (+{q['channels'] - 1} channels)" if q["channels"] > 1 else "")
            rows.append((t["name"], t["dtype"], "x".join(map(str, t["shape"])), qtext))
        lines += ["", title + ":", format_table(rows, ["tensor", "dtype", "shape", "quantization"])]
    lines += ["", "ops:", format_table(list(report["ops"].items()), ["op", "count"])]
    return "\n".join(lines)


# --- Keras -------------------------------------------------------------------------------------

def _h5_weights(h5, prefix="") -> list:
    import h5py
    found = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            found.append({"name": prefix + name, "dtype": str(obj.attrs.get("dtype", obj.dtype)),
                          "shape": list(obj.shape), "bytes": int(obj.size * obj.dtype.itemsize)})
    h5.visititems(visit)
    return found


def _layers(config) -> list:
    layers = (config.get("config") or {}).get("layers") or []
    return [{"name": (layer.get("config") or {}).get("name", layer.get("name", "")),
             "class": layer.get("class_name", ""), "module": layer.get("module", "")} for layer in layers]


def inspect_keras(path: str, **_options) -> dict:
    import h5py
    if formats.detect(path) == formats.KERAS:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
            metadata = json.loads(zf.read("metadata.json")) if "metadata.json" in zf.namelist() else {}
            weights = []
            if "model.weights.h5" in zf.namelist():
                with zf.open("model.weights.h5") as f, h5py.File(f, "r") as h5:
                    weights = _h5_weights(h5)
        version = metadata.get("keras_version", "")
    else:
        with h5py.File(path, "r") as h5:
            raw = h5.attrs.get("model_config")
            config = json.loads(raw) if raw is not None else {}
            version = h5.attrs.get("keras_version", "")
            version = version.decode() if isinstance(version, bytes) else str(version)
            weights = _h5_weights(h5["model_weights"] if "model_weights" in h5 else h5)
    inputs = (config.get("config") or {}).get("input_layers")
    outputs = (config.get("config") or {}).get("output_layers")
    layers = _layers(config)
    risky = [layer["name"] for layer in layers if layer["class"] in ("Lambda",)]
    return {"kind": "keras", "format": ".keras" if formats.detect(path) == formats.KERAS else ".h5",
            "keras_version": version, "model_class": config.get("class_name", ""), "name":
            (config.get("config") or {}).get("name", ""), "inputs": inputs, "outputs": outputs, "layers": layers,
            "weights": weights, "total_bytes": sum(w["bytes"] for w in weights), "lambda_layers": risky}


def render_keras(report: dict) -> str:
    lines = [f"Keras {report['format']} model {report['name']!r} ({report['model_class']}), saved by Keras "
             f"{report['keras_version'] or '?'}: {len(report['layers'])} layers, {len(report['weights'])} weight arrays, "
             f"{human_bytes(report['total_bytes'])}"]
    if report["inputs"] is not None:
        lines.append(f"inputs: {json.dumps(report['inputs'])}  outputs: {json.dumps(report['outputs'])}")
    if report["lambda_layers"]:
        lines.append(f"Lambda layers (load with --unsafe only if trusted): {', '.join(report['lambda_layers'])}")
    counts = Counter(layer["class"] for layer in report["layers"])
    lines += ["", format_table(counts.most_common(), ["layer class", "count"])]
    rows = [(w["name"], w["dtype"], "x".join(map(str, w["shape"])), human_bytes(w["bytes"])) for w in report["weights"]]
    lines += ["", format_table(rows, ["weight", "dtype", "shape", "bytes"])]
    return "\n".join(lines)


def _register():
    try:
        from tfforge.graph.inspect import register_kind
    except ImportError:  # the graph engine's inspect is not built in
        return
    register_kind(formats.CHECKPOINT, None, inspect_checkpoint, render_checkpoint)
    register_kind(formats.TFLITE, None, inspect_tflite, render_tflite)
    register_kind(formats.KERAS, None, inspect_keras, render_keras)
    register_kind(formats.KERAS_H5, None, inspect_keras, render_keras)


_register()
