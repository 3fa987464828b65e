"""Run any model format on numpy inputs, for parity checks: one `Runner` per file, with named inputs
(shape, dtype) and named outputs."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from tfforge import formats
from tfforge.errors import ConversionError
from tfforge.graph.outputs import detect_outputs


class NotRunnableHere(ConversionError):
    """A valid model that the runtimes installed here cannot run."""


class FlexOpsError(NotRunnableHere):
    """A .tflite needs the Flex delegate to run."""


class CustomOpsError(NotRunnableHere):
    """A .tflite holds custom ops no kernel is registered for."""


def _unresolved_custom_op(exc, path):
    import re
    m = re.search(r"unresolved custom op: (\w+)", str(exc))
    if m is None:
        return None
    return CustomOpsError(f"the .tflite holds the custom op {m.group(1)}, which no interpreter here has a kernel "
                          "for; it runs only where a kernel is registered under that name", path=os.fspath(path))


@dataclass
class TensorInfo:
    name: str
    shape: tuple     # None for unknown dimensions
    dtype: np.dtype


class Runner:
    kind = ""
    inputs: list
    outputs: list

    def run(self, feeds: dict) -> dict:
        raise NotImplementedError


class GraphRunner(Runner):
    """A frozen GraphDef in a v1 Session (TensorFlow's own importer)."""

    def __init__(self, graph_def, inputs=None, outputs=None, kind=formats.FROZEN):
        from tfforge._tf import load_tfforge_ops, tf
        load_tfforge_ops()
        t = tf()
        self.kind = kind
        self.graph = t.Graph()
        with self.graph.as_default():
            t.compat.v1.import_graph_def(graph_def, name="")
        inputs = inputs or [n.name for n in graph_def.node if n.op == "Placeholder"]
        outputs = outputs or detect_outputs(graph_def)
        self._in = [self.graph.get_tensor_by_name(_tensor(n)) for n in inputs]
        self._out = [self.graph.get_tensor_by_name(_tensor(n)) for n in outputs]
        self.inputs = [TensorInfo(t_.op.name, _shape(t_.shape), np.dtype(t_.dtype.as_numpy_dtype)) for t_ in self._in]
        self.outputs = [o.split(":")[0] if o.endswith(":0") or ":" not in o else o for o in outputs]
        self.session = t.compat.v1.Session(graph=self.graph)

    def run(self, feeds):
        values = self.session.run(self._out, {t_: feeds[i.name] for t_, i in zip(self._in, self.inputs)})
        return dict(zip(self.outputs, values))


class SavedModelRunner(Runner):
    kind = formats.SAVEDMODEL

    def __init__(self, path, signature="serving_default", tags=None):
        from tfforge.convert.savedmodel_source import load, signature as get_signature, signature_names
        self._loaded = load(path, tags)
        self._fn = get_signature(self._loaded, signature, path)
        in_names, out_names = signature_names(self._fn)
        specs = self._fn.structured_input_signature[1]
        self.inputs = [TensorInfo(n, _shape(specs[n].shape), np.dtype(specs[n].dtype.as_numpy_dtype)) for n in in_names]
        self.outputs = sorted(out_names, key=natural_key)

    def run(self, feeds):
        result = self._fn(**{i.name: feeds[i.name] for i in self.inputs})
        return {k: result[k].numpy() for k in self.outputs}


class KerasRunner(Runner):
    kind = formats.KERAS

    def __init__(self, path, safe_mode=True):
        from tfforge.convert.keras_source import _input_name, load_model, output_names
        self.model = load_model(path, safe_mode)
        self.inputs = [TensorInfo(_input_name(x, i), _shape(x.shape), np.dtype(x.dtype))
                       for i, x in enumerate(self.model.inputs)]
        self.outputs = output_names(self.model, len(self.model.outputs))

    def run(self, feeds):
        from tfforge._tf import tf
        xs = [feeds[i.name] for i in self.inputs]
        ys = tf().nest.flatten(self.model(xs[0] if len(xs) == 1 else xs, training=False))
        return {n: np.asarray(y) for n, y in zip(self.outputs, ys)}


class TFLiteRunner(Runner):
    """ai-edge-litert's interpreter when installed, else tf.lite.Interpreter. Quantized inputs and
    outputs are (de)quantized with the tensors' own parameters, so errors are in float units."""
    kind = formats.TFLITE

    def __init__(self, path):
        from tfforge._tf import native_stderr_quiet
        self.interp = None
        self.path = path
        try:
            from ai_edge_litert.interpreter import Interpreter
            with native_stderr_quiet():
                self.interp = Interpreter(model_path=os.fspath(path))
                self.interp.allocate_tensors()
            self.interpreter_name = "ai_edge_litert"
        except ImportError:
            pass
        except (RuntimeError, ValueError) as exc:  # e.g. Select TF (Flex) ops, which TensorFlow's interpreter links
            if "not a valid Flatbuffer" in str(exc):  # TensorFlow's interpreter would crash on it: stop here
                raise ConversionError("not a valid .tflite file (the flatbuffer verifier rejects it)",
                                      path=os.fspath(path), offset=0) from None
            self.interp = None
        try:
            if self.interp is None:
                from tfforge._tf import tf
                with native_stderr_quiet():
                    self.interp = tf().lite.Interpreter(model_path=os.fspath(path))
                self.interpreter_name = "tf.lite"
            signatures = self.interp.get_signature_list()
            if not signatures:
                raise ConversionError("the .tflite has no signature to run", path=path)
            self.signature = "serving_default" if "serving_default" in signatures else next(iter(signatures))
            self.runner = self.interp.get_signature_runner(self.signature)
        except (RuntimeError, ValueError) as exc:
            if isinstance(exc, ConversionError):
                raise
            error = _unresolved_custom_op(exc, path)
            if error is not None:
                raise error from None
            lines = [line for line in str(exc).strip().splitlines() if line.strip()]
            raise ConversionError(f"the TFLite interpreter cannot load this file: "
                                  f"{lines[0] if lines else type(exc).__name__}", path=os.fspath(path)) from None
        in_details, out_details = self.runner.get_input_details(), self.runner.get_output_details()
        self._in = in_details
        self._out = out_details
        self.inputs = [TensorInfo(n, tuple(None if s < 0 else int(s) for s in d["shape_signature"]),
                                  np.dtype(d["dtype"])) for n, d in sorted(in_details.items(), key=lambda i: natural_key(i[0]))]
        self.outputs = sorted(out_details, key=natural_key)

    def run(self, feeds):
        """Feeds of more rows than a fixed batch size (an export with pinned input shapes) run in
        batch-sized chunks, their outputs concatenated."""
        batch = self.inputs[0].shape[0] if self.inputs and self.inputs[0].shape else None
        rows = len(np.asarray(feeds[self.inputs[0].name])) if self.inputs and batch else None
        if not batch or rows == batch or any(not i.shape or i.shape[0] != batch for i in self.inputs):
            return self._run_once(feeds)
        if rows % batch:
            raise ConversionError(f"the .tflite has a fixed batch of {batch}; {rows} rows are not a multiple of it",
                                  path=os.fspath(self.path))
        parts = [self._run_once({k: np.asarray(v)[j:j + batch] for k, v in feeds.items()})
                 for j in range(0, rows, batch)]
        return {name: np.concatenate([p[name] for p in parts]) for name in self.outputs}

    def _run_once(self, feeds):
        args = {}
        for info in self.inputs:
            detail = self._in[info.name]
            value = np.asarray(feeds[info.name])
            scale, zero = detail["quantization"]
            if scale and np.issubdtype(detail["dtype"], np.integer) and not np.issubdtype(value.dtype, np.integer):
                info_ = np.iinfo(detail["dtype"])
                value = np.clip(np.round(value / scale + zero), info_.min, info_.max)
            args[info.name] = value.astype(detail["dtype"])
        from tfforge._tf import native_stderr_quiet
        try:
            with native_stderr_quiet():
                result = self.runner(**args)
        except RuntimeError as exc:
            if "Select TensorFlow op" in str(exc):
                raise FlexOpsError("the .tflite uses Select TF (Flex) ops, which the interpreters installed here "
                                   "cannot run; check it on a runtime with the Flex delegate") from None
            error = _unresolved_custom_op(exc, self.path)
            if error is not None:
                raise error from None
            raise
        out = {}
        for name in self.outputs:
            value = result[name]
            scale, zero = self._out[name]["quantization"]
            if scale and np.issubdtype(value.dtype, np.integer):
                value = (value.astype(np.float32) - zero) * scale
            out[name] = value
        return out


def open_runner(path, *, signature="serving_default", tags=None, safe_mode=True, inputs=None, outputs=None,
                graph=None) -> Runner:
    """A Runner for any model file; TF1 checkpoints run as their frozen graph."""
    path = os.fspath(path)
    kind = formats.CHECKPOINT if graph else formats.detect(path)
    if kind == formats.TFLITE:
        return TFLiteRunner(path)
    if kind == formats.SAVEDMODEL:
        return SavedModelRunner(path, signature, tags)
    if kind in (formats.KERAS, formats.KERAS_H5):
        return KerasRunner(path, safe_mode)
    if kind in (formats.FROZEN, formats.PBTXT):
        from tfforge.convert.frozen import read_graph_def
        return GraphRunner(read_graph_def(path), inputs, outputs, kind=kind)
    if kind in (formats.CHECKPOINT, formats.META):
        from tfforge.convert.api import load_frozen
        frozen = load_frozen(path, inputs=inputs, outputs=outputs, graph=graph)
        return GraphRunner(frozen.to_graph_def(), frozen.inputs, frozen.outputs, kind=formats.CHECKPOINT)
    raise ConversionError(f"cannot run a {kind} file", path=path)


def natural_key(name: str):
    """output_2 before output_10, so exported positional names keep the model's order."""
    import re
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _tensor(name: str) -> str:
    return name if ":" in name else name + ":0"


def _shape(shape) -> tuple:
    try:
        dims = shape.as_list() if hasattr(shape, "as_list") else list(shape)
    except ValueError:  # unknown rank
        return ()
    return tuple(None if d is None or (isinstance(d, int) and d < 0) else int(d) for d in dims)
