"""Opening graphs from files: detecting what a path holds and reading its GraphDef natively."""

from __future__ import annotations

import os

from tfforge import _native
from tfforge.errors import GraphError
from tfforge.graph.graph import TEXT_SUFFIXES, Graph

SERVE_TAG = "serve"


def detect_kind(path: str | os.PathLike) -> str:
    """What a path holds: 'saved_model', 'meta_graph', 'meta_graph_text', 'graphdef_text', 'graphdef',
    or 'unknown'. Decided from names and a peek at the bytes; the inspect dispatch table keys on it."""
    path = os.fspath(path)
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "saved_model.pb")) or os.path.exists(os.path.join(path, "saved_model.pbtxt")):
            return "saved_model"
        return "unknown"
    if not os.path.exists(path):
        raise GraphError("no such file or directory", path=path)
    base = os.path.basename(path)
    if base in ("saved_model.pb", "saved_model.pbtxt"):
        return "saved_model"
    if base.endswith(".meta"):
        return "meta_graph"
    if base.endswith((".meta.txt", ".meta.pbtxt")):
        return "meta_graph_text"
    if base.endswith(TEXT_SUFFIXES):
        return "graphdef_text"
    if base.endswith((".pb", ".graphdef", ".graph")):
        return "graphdef"
    with open(path, "rb") as f:
        head = f.read(64)
    if head[:1] == b"\x0a":  # field 1 (GraphDef.node), length-delimited
        return "graphdef"
    return "unknown"


def load(path: str | os.PathLike, tags: str | list[str] | None = None) -> Graph:
    """Reads a graph: frozen .pb, .pbtxt, a TF1 .meta file or a SavedModel directory (the meta graph
    with `tags`, default 'serve' or the first one). Binary files are memory-mapped, not read."""
    path = os.fspath(path)
    kind = detect_kind(path)
    if kind == "graphdef":
        return Graph(_native.graph_from_file(path), path=path)
    if kind == "graphdef_text":
        from tfforge.graph import text
        return Graph.from_bytes(text.read_text(path, "tensorflow.GraphDef"), path=path)
    if kind in ("meta_graph", "meta_graph_text"):
        if kind == "meta_graph":
            native, header, mg_tags = _native.meta_graph_from_file(path)
        else:
            from tfforge.graph import text
            native, header, mg_tags = _native.meta_graph_from_buffer(text.read_text(path, "tensorflow.MetaGraphDef"), path)
        return Graph(native, path=path, kind="meta_graph", meta={"header": header, "tags": mg_tags, "tag_sets": [mg_tags]})
    if kind == "saved_model":
        return _load_saved_model(path, tags)
    raise GraphError("cannot tell what kind of graph file this is (expected .pb, .pbtxt, .meta or a SavedModel directory)",
                     path=path)


def _load_saved_model(path: str, tags) -> Graph:
    pb = os.path.join(path, "saved_model.pb") if os.path.isdir(path) else path
    if os.path.exists(pb):
        graphs = _native.saved_model_graphs(pb, pb)
    else:
        from tfforge.graph import text
        pbtxt = os.path.join(path, "saved_model.pbtxt") if os.path.isdir(path) else path
        graphs = _native.saved_model_graphs(text.read_text(pbtxt, "tensorflow.SavedModel"), pbtxt)
        pb = pbtxt
    want = [tags] if isinstance(tags, str) else list(tags or [])
    tag_sets = [list(t) for _, _, t in graphs]
    chosen = None
    for native, header, mg_tags in graphs:
        if want and set(want) == set(mg_tags):
            chosen = (native, header, mg_tags)
            break
        if not want and SERVE_TAG in mg_tags and chosen is None:
            chosen = (native, header, mg_tags)
    if chosen is None:
        if want:
            raise GraphError(f"no meta graph with tags {','.join(want)}; available: "
                             + "; ".join(",".join(t) for t in tag_sets), path=pb)
        chosen = graphs[0]
    native, header, mg_tags = chosen
    return Graph(native, path=path, kind="saved_model", meta={"header": header, "tags": mg_tags, "tag_sets": tag_sets})
