"""The custom ops a .tflite holds, read from its flatbuffer, and the statement of what a runtime must
register to run them (written for `--keep-tfforge-ops --allow-custom-ops`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CustomOp:
    name: str                                    # the operator code's custom_code
    count: int = 0                               # nodes using it
    inputs: list = field(default_factory=list)   # argument names (from the TensorFlow op's definition)
    outputs: list = field(default_factory=list)
    options: dict = field(default_factory=dict)  # the custom_options flexbuffer map of the first node


def _schema():
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        from tensorflow.lite.python import schema_py_generated as schema
    return schema


def read_custom_ops(data: bytes) -> list:
    """Every custom op of the model's subgraphs, in name order, with its options decoded."""
    from flatbuffers import flexbuffers
    model = _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    found = {}
    for graph in model.subgraphs or []:
        for op in graph.operators or []:
            code = model.operatorCodes[op.opcodeIndex]
            if not code.customCode:
                continue
            name = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            entry = found.setdefault(name, CustomOp(name))
            if entry.count == 0 and op.customOptions is not None and len(op.customOptions):
                try:
                    entry.options = dict(flexbuffers.Loads(bytes(bytearray(op.customOptions))))
                except (TypeError, ValueError):
                    entry.options = {}
            entry.count += 1
    types = {v: k for k, v in vars(_schema().TensorType).items() if not k.startswith("_")}
    for entry in found.values():
        _argument_names(entry)
        if isinstance(entry.options.get("T"), int):  # the converter writes a type attribute as a TensorType
            entry.options["T"] = types.get(entry.options["T"], entry.options["T"])
    return [found[k] for k in sorted(found)]


def _argument_names(entry: CustomOp) -> None:
    """Input and output names from the TensorFlow op registry (tfforge's ops once tfforge.ops loaded)."""
    try:
        from tensorflow.python.framework import op_def_registry
        op_def = op_def_registry.get(entry.name)
    except ImportError:
        op_def = None
    if op_def is not None:
        entry.inputs = [a.name for a in op_def.input_arg]
        entry.outputs = [a.name for a in op_def.output_arg]


def _format_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def runtime_statement(ops: list) -> str:
    """One paragraph: which custom codes a runtime must register, with each one's tensors and options."""
    parts = []
    for op in ops:
        signature = f"{op.name}({', '.join(op.inputs) or '...'}) -> {', '.join(op.outputs) or '...'}"
        options = ", ".join(f"{k}={_format_value(v)}" for k, v in sorted(op.options.items()))
        parts.append(f"{signature} [{op.count} node(s); options {{{options}}}]")
    return ("the .tflite holds TFLite custom ops that no stock LiteRT/TFLite runtime implements: "
            + "; ".join(parts)
            + ". To run it, a runtime must register a kernel for each custom code before building the "
              "interpreter (C++: MutableOpResolver::AddCustom(name, registration); Python: "
              "Interpreter(custom_op_registerers=[...])). Each node's inputs and outputs are in the order "
              "listed; its custom_options are a FlexBuffer map of the TensorFlow op's attributes (T is stored "
              "as a TFLite TensorType number, shown here by name); the math is tfforge.ops' (normalization "
              "over the last axis). tfforge ships no TFLite kernels: without --keep-tfforge-ops the ops "
              "become built-in ops that run anywhere")
