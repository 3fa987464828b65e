"""Opening graphs from files: what a path holds comes from tfforge.formats (by content, so a text GraphDef
named .pb loads as text), then its GraphDef is read natively."""

from __future__ import annotations

import os

from tfforge import _native, formats
from tfforge.errors import GraphError
from tfforge.graph.graph import Graph

SERVE_TAG = "serve"


def load(path: str | os.PathLike, tags: str | list[str] | None = None) -> Graph:
    """Reads a graph: a binary or text GraphDef, a TF1 MetaGraphDef (.meta, binary or text) or a SavedModel
    directory (the meta graph with `tags`, default 'serve' or the first one). Binary files are
    memory-mapped, not read."""
    path = os.fspath(path)
    kind = formats.detect(path)
    if kind == formats.GRAPHDEF:
        return Graph(_native.graph_from_file(path), path=path)
    if kind == formats.GRAPHDEF_TEXT:
        from tfforge.graph import text
        return Graph.from_bytes(text.read_text(path, text.GRAPH_DEF), path=path)
    if kind in (formats.META_GRAPH, formats.META_GRAPH_TEXT):
        if kind == formats.META_GRAPH:
            native, header, mg_tags = _native.meta_graph_from_file(path)
        else:
            from tfforge.graph import text
            native, header, mg_tags = _native.meta_graph_from_buffer(text.read_text(path, text.META_GRAPH_DEF), path)
        return Graph(native, path=path, kind="meta_graph", meta={"header": header, "tags": mg_tags, "tag_sets": [mg_tags]})
    if kind == formats.SAVED_MODEL:
        return _load_saved_model(path, tags)
    raise GraphError(f"this is a {kind} file, not a graph: tfforge graph commands read GraphDefs (binary or text), "
                     "MetaGraphDefs (.meta) and SavedModel directories", path=path)


def saved_model_graphs(path: str) -> list[Graph]:
    """Every MetaGraph of a SavedModel directory (or its saved_model.pb / .pbtxt), in file order."""
    pb = formats.graph_file(path, formats.SAVED_MODEL)
    if formats.is_text(pb):
        from tfforge.graph import text
        graphs = _native.saved_model_graphs(text.read_text(pb, text.SAVED_MODEL), pb)
    else:
        graphs = _native.saved_model_graphs(pb, pb)
    tag_sets = [list(t) for _, _, t in graphs]
    return [Graph(native, path=path, kind="saved_model", meta={"header": header, "tags": mg_tags, "tag_sets": tag_sets})
            for native, header, mg_tags in graphs]


def _load_saved_model(path: str, tags) -> Graph:
    pb = formats.graph_file(path, formats.SAVED_MODEL)
    graphs = [(g._native, g.meta["header"], g.meta["tags"]) for g in saved_model_graphs(path)]  # noqa: SLF001
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
