"""Fuse the LayerNorm, RMSNorm, bias + GELU and attention-core subgraphs of an existing model into
tfforge's ops, and rewrite shared-weight batched products (Keras EinsumDense projections) into MatMul +
BiasAdd.

    report = tfforge.optimize("saved_model_dir", "fused_dir")      # or a frozen .pb / .pbtxt
    report.fused            # {(function, pattern): count}
    report.not_fused        # [Site] with the reason each candidate was left alone
    report.parity           # tfforge.convert.ParityReport of source vs. result (verify=False skips it)

The rewriting is native (cc/graph/fuse*.cc, the passes fuse_layer_norm, fuse_rms_norm, fuse_bias_gelu,
fuse_projection, fuse_attention) and
touches the SavedModel's graph and function library only: signatures, the object graph, variables and
assets are kept, so `tf.saved_model.load` loads the result once `import tfforge.ops` ran.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field

from tfforge import _native, formats
from tfforge.errors import ConversionError

PATTERNS = ("layer_norm", "rms_norm", "bias_gelu", "projection", "attention")
# The tfforge op each pattern puts in; projection rewrites to TensorFlow's own MatMul / BiasAdd / Reshape.
FUSED_OPS = {"layer_norm": "TfforgeLayerNorm", "rms_norm": "TfforgeRMSNorm", "bias_gelu": "TfforgeBiasGelu",
             "projection": None, "attention": "TfforgeAttention"}
# Written by TensorFlow from the exact bytes of saved_model.pb, which optimize changes: not carried over.
_NOT_COPIED = {"saved_model.pb", "saved_model.pbtxt", "fingerprint.pb"}


@dataclass
class Site:
    pattern: str
    function: str   # "" for the graph's own nodes
    anchor: str     # the node the site was found from (Rsqrt, Erf, ...)
    output: str     # the node the fused op replaced
    fused: bool
    reason: str
    detail: str
    meta_graph: str = ""  # tags of the meta graph (SavedModels)


@dataclass
class OptimizeReport:
    src: str
    dst: str
    kind: str
    sites: list = field(default_factory=list)
    parity: object = None  # tfforge.convert.ParityReport, or None with verify=False

    @property
    def fused(self) -> dict:
        """{(function, pattern): number of sites fused}; function "" is the graph's own nodes."""
        return dict(Counter((s.function, s.pattern) for s in self.sites if s.fused))

    @property
    def not_fused(self) -> list:
        return [s for s in self.sites if not s.fused]

    def count(self, pattern: str | None = None, functions=None) -> int:
        """Fused sites, of one pattern or all, in the given functions only (names; "" for the graph)."""
        return sum(1 for s in self.sites if s.fused and (pattern is None or s.pattern == pattern)
                   and (functions is None or s.function in functions))

    def to_dict(self) -> dict:
        out = {"src": self.src, "dst": self.dst, "kind": self.kind,
               "fused": [{"function": f, "pattern": p, "count": n} for (f, p), n in sorted(self.fused.items())],
               "sites": [s.__dict__ for s in self.sites]}
        if self.parity is not None:
            out["parity"] = {"samples": self.parity.samples, "max_abs": self.parity.max_abs,
                             "outputs": [o.__dict__ for o in self.parity.outputs]}
        return out


def fuse_graph(graph, patterns=PATTERNS, outputs=()):
    """Runs the fusion passes on a tfforge.graph.Graph: (new Graph, [Site])."""
    from tfforge.graph import Graph
    patterns = _check_patterns(patterns)
    native, sites = _native.fuse(graph._native, list(patterns), list(outputs))
    return (Graph(native, path=graph.path, kind=graph.kind, meta=graph.meta),
            [Site(**s) for s in sites])


def optimize(src, dst, *, patterns=PATTERNS, tags=None, verify: bool = True, samples: int = 4,
             signature: str = "serving_default", outputs=None) -> OptimizeReport:
    """Fuses `patterns` in the SavedModel directory or frozen GraphDef (.pb / .pbtxt) `src` and writes the
    result to `dst` (a directory for a SavedModel, written atomically; a file otherwise), then runs
    `tfforge.convert.verify` between the two unless verify=False. `outputs` (frozen graphs): node names to
    keep intact, default the detected outputs; `tags` pick the meta graph verify runs."""
    src, dst = os.fspath(src), os.fspath(dst)
    patterns = _check_patterns(patterns)
    kind = formats.detect(src)
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ConversionError("the output must differ from the input (the input stays as it is)", path=dst)
    if kind == formats.SAVED_MODEL:
        report = OptimizeReport(src, dst, "savedmodel")
        _optimize_saved_model(src, dst, patterns, report)
    elif kind in (formats.GRAPHDEF, formats.GRAPHDEF_TEXT):
        report = OptimizeReport(src, dst, "frozen")
        _optimize_frozen(src, dst, patterns, outputs, report)
    else:
        raise ConversionError(f"this is a {kind}, not a model optimize rewrites: give a SavedModel directory or a "
                              "frozen GraphDef (.pb / .pbtxt); convert other formats first (tfforge convert)",
                              path=src)
    if verify:
        from tfforge.convert import verify as run_verify
        options = {"signature": signature}
        if tags:
            options["tags"] = [tags] if isinstance(tags, str) else list(tags)
        report.parity = run_verify(src, dst, samples=samples, **options)
    return report


def _check_patterns(patterns) -> list:
    patterns = [patterns] if isinstance(patterns, str) else list(patterns)
    unknown = [p for p in patterns if p not in PATTERNS]
    if unknown or not patterns:
        raise ConversionError(f"unknown pattern {unknown[0]!r}; the patterns are {', '.join(PATTERNS)}" if unknown
                              else "no patterns given")
    return patterns


def _signature_outputs(header: bytes) -> list:
    """Tensor names the meta graph's signatures read, which must keep their meaning."""
    decoded = _native.decode_message("tensorflow.MetaGraphDef", header)
    names = []
    for sig in decoded.get("signature_def", {}).values():
        for part in ("inputs", "outputs"):
            names += [info.get("name", "") for info in sig.get(part, {}).values() if info.get("name")]
    return names


def _optimize_saved_model(src: str, dst: str, patterns, report: OptimizeReport) -> None:
    from tfforge._io import atomic_directory
    from tfforge.graph.graph import Graph
    pb = formats.graph_file(src, formats.SAVED_MODEL)
    if formats.is_text(pb):
        from tfforge.graph import text
        data = text.read_text(pb, text.SAVED_MODEL)
    else:
        with open(pb, "rb") as f:
            data = f.read()
    metas = []
    for native, header, tags in _native.saved_model_graphs(data, pb):
        graph = Graph(native, path=pb, kind="saved_model", meta={"header": header, "tags": tags, "tag_sets": [tags]})
        fused, sites = fuse_graph(graph, patterns, _signature_outputs(header))
        for s in sites:
            s.meta_graph = ",".join(tags)
        report.sites += sites
        metas.append(fused.meta_graph_bytes())
    new_pb = _native.saved_model_with_meta_graphs(data, metas)
    with atomic_directory(dst) as tmp:
        for entry in os.scandir(src):
            if entry.name in _NOT_COPIED or entry.name.startswith("."):
                continue
            target = os.path.join(tmp, entry.name)
            if entry.is_dir(follow_symlinks=False):
                shutil.copytree(entry.path, target, symlinks=True)
            else:
                shutil.copy2(entry.path, target, follow_symlinks=False)
        with open(os.path.join(tmp, "saved_model.pb"), "wb") as f:
            f.write(new_pb)
        ops = sorted({FUSED_OPS[s.pattern] for s in report.sites if s.fused and FUSED_OPS[s.pattern]})
        if ops:
            _annotate(tmp, ops)


def _annotate(path: str, ops) -> None:
    """assets.extra/tfforge.json: which tfforge ops the model needs and how to load it."""
    import json
    import tfforge
    from tfforge.ops.saved_model import NOTE_NAME
    note_path = os.path.join(path, "assets.extra", NOTE_NAME)
    note = {}
    if os.path.exists(note_path):
        with open(note_path, encoding="utf-8") as f:
            note = json.load(f)
    ops = sorted(set(note.get("required_ops", [])) | set(ops))
    note.update({"tfforge_version": tfforge.__version__, "required_ops": ops,
                 "how_to_load": "pip install tfforge; then `import tfforge.ops` before tf.saved_model.load "
                                "(or use tfforge.ops.load_saved_model(path))"})
    os.makedirs(os.path.dirname(note_path), exist_ok=True)
    with open(note_path, "w", encoding="utf-8") as f:
        json.dump(note, f, indent=2)


def _optimize_frozen(src: str, dst: str, patterns, outputs, report: OptimizeReport) -> None:
    import tfforge.graph as tg
    from tfforge.graph.outputs import detect_outputs
    graph = tg.load(src)
    keep = list(outputs) if outputs else detect_outputs(graph)
    fused, sites = fuse_graph(graph, patterns, keep)
    report.sites += sites
    fused.save(dst)
