"""tfforge.convert.convert: SRC -> DST in another format (savedmodel, frozen / pb, pbtxt, tflite),
followed by a parity check of DST against SRC."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field

from tfforge import formats
from tfforge._io import atomic_directory
from tfforge.errors import ConversionError
from tfforge.graph.outputs import detect_outputs

TARGETS = ("savedmodel", "frozen", "pb", "pbtxt", "tflite")


@dataclass
class ConvertResult:
    src: str
    dst: str
    source_format: str
    to: str
    bytes_in: int = 0
    bytes_out: int = 0
    parity: object = None          # verify.ParityReport, or None with verify=False
    notes: list = field(default_factory=list)


def _signatures(signatures, inputs, outputs):
    """{name: (inputs, outputs)}; serving_default from --inputs/--outputs unless given."""
    result = dict(signatures or {})
    if "serving_default" not in result and (inputs or outputs):
        result["serving_default"] = (inputs, outputs)
    return result


def frozen_to_savedmodel(graph_def, dst, inputs, outputs, tags=("serve",), signatures=None, assets=None):
    """A frozen GraphDef as a (v1-style, variable-free) SavedModel with `serving_default` and any extra
    signatures {name: (input nodes, output nodes)}; `assets` (files or a directory) are copied in."""
    from tfforge._tf import tf
    t = tf()
    v1 = t.compat.v1
    graph = t.Graph()
    with graph.as_default():
        v1.import_graph_def(graph_def, name="")
    sigs = _signatures(signatures, inputs, outputs)
    _check_signatures(sigs)
    sig_defs = {}
    for name, (ins, outs) in sigs.items():
        def tensor(n, name=name):
            try:
                return graph.get_tensor_by_name(n if ":" in n else n + ":0")
            except (KeyError, ValueError):
                raise ConversionError(f"signature {name!r} names {n!r}, which is not in the graph", node=n) from None
        with graph.as_default():
            sig_defs[name] = v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={i.split(":")[0].replace("/", "_"): tensor(i) for i in ins},
                outputs={o.split(":")[0].replace("/", "_"): tensor(o) for o in outs})
    _build_savedmodel(graph, dst, tags, sig_defs, session_setup=None, assets=assets)


def _check_signatures(sigs):
    for name, (ins, outs) in sigs.items():
        if not ins or not outs:
            raise ConversionError(f"signature {name!r} would have no {'inputs' if not ins else 'outputs'} (a "
                                  "SavedModel signature needs both); name them with --inputs / --outputs or "
                                  "--add-signature NAME=INS:OUTS")


def _build_savedmodel(graph, dst, tags, sig_defs, session_setup, assets, saver=None):
    from tfforge._tf import tf
    v1 = tf().compat.v1
    if os.path.exists(dst):
        raise ConversionError("destination exists; remove it or choose another", path=dst)
    with atomic_directory(dst) as tmp:
        os.rmdir(tmp)  # the Builder creates the directory itself
        with graph.as_default(), v1.Session(graph=graph) as sess:
            if session_setup:
                session_setup(sess)
            builder = v1.saved_model.Builder(tmp)
            builder.add_meta_graph_and_variables(sess, list(tags), signature_def_map=sig_defs, saver=saver,
                                                 strip_default_attrs=True)
            builder.save()
        if assets:
            _copy_assets(assets, os.path.join(tmp, "assets"))


def _copy_assets(assets, target):
    os.makedirs(target, exist_ok=True)
    for item in assets if isinstance(assets, (list, tuple)) else [assets]:
        if os.path.isdir(item):
            shutil.copytree(item, target, dirs_exist_ok=True)
        elif os.path.exists(item):
            shutil.copy2(item, target)
        else:
            raise ConversionError("asset not found", path=item)


def checkpoint_to_savedmodel(src, dst, *, graph=None, meta=None, inputs=None, outputs=None, tags=("serve",),
                             signatures=None, assets=None, clear_devices=False):
    """A TF1 checkpoint + meta graph as SavedModelBuilder.add_meta_graph_and_variables writes it:
    variables stay variables, restored from the checkpoint."""
    from tfforge.convert import graph_edit
    from tfforge._tf import tf
    from tfforge.convert.checkpoint_source import load_graph
    t = tf()
    v1 = t.compat.v1
    prefix, native_graph = load_graph(src, graph, meta)
    if not outputs:
        outputs = detect_outputs(native_graph)
        if not outputs:
            raise ConversionError("found no output nodes; name them with --outputs", path=prefix)
    if not inputs:
        inputs = [n.name for n in graph_edit.prune(native_graph, outputs).nodes if n.op == "Placeholder"]
        if not inputs and not signatures:
            raise ConversionError(f"no Placeholder feeds the outputs {', '.join(outputs)}, so the SavedModel "
                                  "signature would have no inputs; name the input tensors with --inputs (any "
                                  "tensor can be fed)", path=prefix)
    g = t.Graph()
    with g.as_default():
        if native_graph.meta:
            meta_graph = v1.MetaGraphDef.FromString(native_graph.meta_graph_bytes())
            saver = v1.train.import_meta_graph(meta_graph, clear_devices=clear_devices)
        else:
            v1.import_graph_def(v1.GraphDef.FromString(native_graph.to_bytes()), name="")
            saver = v1.train.Saver(var_list=v1.global_variables() or None) if v1.global_variables() else None
    sigs = _signatures(signatures, inputs, outputs)
    _check_signatures(sigs)
    sig_defs = {}
    for name, (ins, outs) in sigs.items():
        with g.as_default():
            sig_defs[name] = v1.saved_model.signature_def_utils.predict_signature_def(
                inputs={i.split(":")[0]: g.get_tensor_by_name(i if ":" in i else i + ":0") for i in ins},
                outputs={o.split(":")[0]: g.get_tensor_by_name(o if ":" in o else o + ":0") for o in outs})
    if saver is None:
        raise ConversionError("the graph has no saver and no variables to restore", path=prefix)
    _build_savedmodel(g, dst, tags, sig_defs, lambda sess: saver.restore(sess, prefix), assets, saver=saver)
    return inputs, outputs


def convert(src, dst, to: str | None = None, *, verify: bool = True, samples: int = 4, data: str | None = None,
            inputs=None, outputs=None, signature: str = "serving_default", tags=None, signatures=None, assets=None,
            quantize: str = "none", representative: str | None = None, select_tf_ops: bool = False,
            allow_custom_ops: bool = False, decompose: bool = True, safe_mode: bool = True, graph: str | None = None,
            meta: str | None = None, clear_devices: bool = False, variables=None, exclude_variables=None,
            initializer_nodes=None, keep_failed: bool = False, input_shapes=None) -> ConvertResult:
    """Converts SRC to DST; `to` defaults from DST's extension (.pb -> frozen, .pbtxt, .tflite, a
    name without an extension -> savedmodel). Runs verify(SRC, DST) unless verify=False; an int8
    export is checked on its calibration data. When anything fails, DST is removed again unless
    keep_failed=True. `input_shapes` ({name: shape}, or one shape) pins a TFLite export's input
    dimensions, so every tensor is static (see tflite_export)."""
    src, dst = os.fspath(src), os.fspath(dst)
    to = to or _target_from_name(dst)
    if to not in TARGETS:
        raise ConversionError(f"--to must be one of {', '.join(TARGETS)}, not {to!r}")
    from tfforge.convert.tflite_export import check_options
    check_options(quantize, representative)
    if to != "tflite" and quantize != "none":
        raise ConversionError(f"--quantize applies to TFLite exports, not --to {to}")
    tflite_only = {"--allow-custom-ops": allow_custom_ops, "--keep-tfforge-ops": not decompose,
                   "--select-tf-ops": select_tf_ops, "--input-shape": bool(input_shapes)}
    misplaced = [flag for flag, given in tflite_only.items() if given]
    if to != "tflite" and misplaced:
        raise ConversionError(f"{', '.join(misplaced)} appl{'ies' if len(misplaced) == 1 else 'y'} to TFLite "
                              f"exports (--to tflite or DST.tflite), not --to {to}")
    before = _identity(dst)
    try:
        return _convert(src, dst, to, verify=verify, samples=samples, data=data, inputs=inputs, outputs=outputs,
                        signature=signature, tags=tags, signatures=signatures, assets=assets, quantize=quantize,
                        representative=representative, select_tf_ops=select_tf_ops, allow_custom_ops=allow_custom_ops,
                        decompose=decompose, safe_mode=safe_mode, graph=graph, meta=meta, clear_devices=clear_devices,
                        variables=variables, exclude_variables=exclude_variables, initializer_nodes=initializer_nodes,
                        input_shapes=input_shapes)
    except BaseException as exc:
        if _identity(dst) not in (None, before):  # this run wrote DST (new, or replacing an older file)
            if keep_failed:
                if isinstance(exc, ConversionError):
                    exc.message += f" (the output was kept as asked: {dst})"
                    exc.args = (exc._format(),)  # noqa: SLF001
            elif os.path.isdir(dst) and not os.path.islink(dst):
                shutil.rmtree(dst, ignore_errors=True)
            else:
                os.remove(dst)
        raise


def _convert(src, dst, to, *, verify, samples, data, inputs, outputs, signature, tags, signatures, assets, quantize,
             representative, select_tf_ops, allow_custom_ops, decompose, safe_mode, graph, meta, clear_devices,
             variables, exclude_variables, initializer_nodes, input_shapes) -> ConvertResult:
    from tfforge.convert.api import _split, load_frozen
    inputs, outputs, tags = _split(inputs), _split(outputs), _split(tags) or ["serve"]
    kind = formats.CHECKPOINT if graph else formats.detect(src)
    freeze_opts = dict(outputs=outputs, inputs=inputs, clear_devices=clear_devices, variables=variables,
                       exclude_variables=exclude_variables, initializer_nodes=initializer_nodes, graph=graph, meta=meta)
    result = ConvertResult(src, dst, kind, to)
    run_opts = {}
    if to in ("frozen", "pb", "pbtxt"):
        text = to == "pbtxt"
        if text != dst.lower().endswith((".pbtxt", ".txt")):
            raise ConversionError(f"--to {to} writes {'text' if text else 'binary'}; name the output "
                                  f"{'.pbtxt' if text else '.pb'}", path=dst)
        if kind in (formats.FROZEN, formats.PBTXT) and not (inputs or outputs):
            from tfforge.convert.frozen import FrozenGraph, load_graph
            FrozenGraph(load_graph(src)).write(dst)
        else:
            frozen = load_frozen(src, signature=signature, tags=tags, safe_mode=safe_mode, **freeze_opts)
            result.notes += frozen.notes
            frozen.write(dst)
            run_opts = dict(inputs=frozen.inputs, outputs=frozen.outputs)
    elif to == "savedmodel":
        if kind == formats.SAVEDMODEL:
            raise ConversionError("SRC is a SavedModel already", path=src)
        if kind in (formats.KERAS, formats.KERAS_H5):
            from tfforge.convert.keras_source import load_model
            if os.path.exists(dst):
                raise ConversionError("destination exists; remove it or choose another", path=dst)
            model = load_model(src, safe_mode)
            with atomic_directory(dst) as export_dir:
                os.rmdir(export_dir)  # Keras' export creates the directory itself
                model.export(export_dir, format="tf_saved_model", verbose=False)
                if assets:
                    _copy_assets(assets, os.path.join(export_dir, "assets"))
        elif kind in (formats.CHECKPOINT, formats.META):
            checkpoint_to_savedmodel(src if kind == formats.CHECKPOINT else formats.checkpoint_prefix(src), dst,
                                     graph=graph, meta=meta if kind == formats.CHECKPOINT else src, inputs=inputs,
                                     outputs=outputs, tags=tags, signatures=signatures, assets=assets,
                                     clear_devices=clear_devices)
        else:
            every_output = list(outputs or [])
            for _, outs in (signatures or {}).values():
                every_output += [o for o in outs if o not in every_output]
            frozen = load_frozen(src, safe_mode=safe_mode, **dict(freeze_opts, outputs=every_output or None))
            result.notes += frozen.notes
            main_outputs = outputs or frozen.outputs
            frozen_to_savedmodel(frozen.to_graph_def(), dst, frozen.inputs, main_outputs, tags=tags,
                                 signatures=signatures, assets=assets)
    else:
        from tfforge.convert.tflite_export import export_tflite
        export_tflite(src, dst, quantize=quantize, representative=representative, select_tf_ops=select_tf_ops,
                      allow_custom_ops=allow_custom_ops, decompose=decompose, input_shapes=input_shapes,
                      signature=signature, tags=tags,
                      safe_mode=safe_mode, frozen_options={k: v for k, v in freeze_opts.items() if v},
                      notes=result.notes)
    from tfforge.convert.verify import size_reduction
    result.bytes_in, result.bytes_out = size_reduction(src if kind != formats.CHECKPOINT or graph
                                                       else formats.checkpoint_prefix(src), dst)
    if verify:
        _verify(result, src, dst, to, kind, samples=samples, data=data, signature=signature, tags=tags,
                safe_mode=safe_mode, inputs=inputs, outputs=outputs, graph=graph, run_opts=run_opts,
                calibration=representative if quantize == "int8" and representative != "random" else None)
    return result


def _verify(result, src, dst, to, kind, *, samples, data, signature, tags, safe_mode, inputs, outputs, graph,
            run_opts, calibration):
    """The parity check of DST against SRC, on `data`, else on the int8 calibration data (the inputs
    the quantization ranges were fitted to), else on random inputs."""
    from tfforge.convert.runners import GraphRunner, NotRunnableHere, open_runner
    from tfforge.convert.verify import verify as run_verify
    ref = open_runner(src, signature=signature, tags=None if kind == formats.SAVEDMODEL and not tags else tags,
                      safe_mode=safe_mode, inputs=inputs, outputs=outputs, graph=graph)
    feeds = None
    if calibration and not data:
        from tfforge.convert.representative import calibration_feeds
        feeds = calibration_feeds(calibration, ref.inputs)
    try:
        if to in ("frozen", "pb", "pbtxt"):
            from tfforge.convert.frozen import read_graph_def
            out = GraphRunner(read_graph_def(dst), run_opts.get("inputs") or inputs, run_opts.get("outputs") or outputs)
        else:
            out = open_runner(dst, tags=tags if to == "savedmodel" else None)
        result.parity = run_verify(ref, out, samples=samples, data=data, feeds=feeds)
    except NotRunnableHere as exc:  # written and valid; only this machine cannot run it
        result.notes.append(f"not verified: {exc.message}")
        return
    result.parity.a, result.parity.b = src, dst
    if feeds is not None:
        result.notes.append(f"parity measured on the {result.parity.samples} calibration samples of {calibration}")


def _identity(path: str):
    """(inode, mtime) of PATH, None when it does not exist: tells a file this run wrote from one it found."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _target_from_name(dst: str) -> str:
    lower = dst.lower()
    if lower.endswith(".tflite"):
        return "tflite"
    if lower.endswith((".pbtxt", ".txt")):
        return "pbtxt"
    if lower.endswith(".pb"):
        return "frozen"
    ext = os.path.splitext(os.path.basename(os.path.normpath(dst)))[1]
    if ext and not os.path.isdir(dst):
        raise ConversionError(f"unknown output extension {ext!r}: name the output .pb, .pbtxt or .tflite, or a "
                              "directory without an extension for a SavedModel (or give --to)", path=dst)
    return "savedmodel"
