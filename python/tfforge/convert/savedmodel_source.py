"""SavedModel directories -> FrozenGraph, one signature at a time."""

from __future__ import annotations

from tfforge.convert.frozen import FrozenGraph
from tfforge.errors import ConversionError


def load(path: str, tags=None):
    from tfforge._tf import load_tfforge_ops, tf
    load_tfforge_ops()
    try:
        return tf().saved_model.load(path, tags=list(tags) if tags else None)
    except Exception as exc:
        raise ConversionError(f"cannot load SavedModel: {exc}", path=path) from None


def signature(loaded, name: str, path: str):
    signatures = getattr(loaded, "signatures", {})
    if name not in signatures:
        raise ConversionError(f"no signature {name!r}; it has: {', '.join(sorted(signatures)) or 'none'}", path=path)
    return signatures[name]


def signature_names(func):
    """(input keys, output keys) in the order of func.inputs / func.outputs (flattened, keys sorted)."""
    from tfforge._tf import tf
    args, kwargs = func.structured_input_signature
    inputs = [spec.name for spec in tf().nest.flatten((args, kwargs))]
    outputs = func.structured_outputs
    out_names = sorted(outputs) if isinstance(outputs, dict) else [f"output_{i}" for i in range(len(func.outputs))]
    return inputs, out_names


def freeze_metagraph(path: str, tags=None, outputs=None, inputs=None, variables=None, exclude_variables=None,
                     initializer_nodes=None) -> FrozenGraph:
    """The SavedModel's MetaGraph frozen by node names, as freeze_graph.py --input_saved_model_dir does
    (node names kept, no signature function): the graph, read natively, is treated as a TF1 graph whose
    checkpoint is variables/variables."""
    import os

    from tfforge.convert.checkpoint_source import freeze_graph_def
    from tfforge.graph.loader import saved_model_graphs
    if not outputs:
        raise ConversionError("freezing a SavedModel without a signature needs --outputs (node names)", path=path)
    graphs = saved_model_graphs(path)
    wanted = set(tags or [])
    chosen = [g for g in graphs if set(g.meta["tags"]) == wanted]
    if not chosen and not tags and len(graphs) == 1:
        chosen = graphs
    if len(chosen) != 1:
        have = "; ".join(",".join(g.meta["tags"]) or "(none)" for g in graphs)
        raise ConversionError(f"no MetaGraph with tags {','.join(sorted(wanted)) or '(none)'}; it has: {have}",
                              path=path)
    return freeze_graph_def(os.path.join(path, "variables", "variables"), chosen[0], outputs=outputs,
                            inputs=inputs, variables=variables, exclude_variables=exclude_variables,
                            initializer_nodes=initializer_nodes)


def freeze_savedmodel(path: str, signature_name: str = "serving_default", tags=None) -> FrozenGraph:
    from tfforge.convert.function_source import freeze_concrete_function
    fast = _load_without_restoring(path, tags)
    if fast is not None:
        loaded, values = fast
    else:
        loaded, values = load(path, tags), None
    func = signature(loaded, signature_name, path)
    in_names, out_names = signature_names(func)
    return freeze_concrete_function(func, input_names=in_names, output_names=out_names, values=values)


_ORDINARY_LOAD = "loading it with tf.saved_model.load (variables restored, then frozen)"


def _load_without_restoring(path: str, tags):
    """Loads the SavedModel's objects and functions but not its variables' values, and pairs every
    variable with its tensor in variables/ (a range of the data shard the graph writer streams out): the SavedObjectGraph and the checkpoint's
    object graph share node ids, and the checkpoint's node names the key. Returns (root object,
    values callable), or None when the SavedModel does not fit this (then it is loaded normally, and
    one line logged says why)."""
    import os

    from google.protobuf.message import DecodeError
    from tensorflow.core.protobuf import saved_model_pb2, trackable_object_graph_pb2
    from tfforge._compat import fallback
    from tfforge._compat.tf import load_partial
    from tfforge._tf import load_tfforge_ops, tf
    from tfforge.checkpoint import Checkpoint
    prefix = os.path.join(path, "variables", "variables")
    pb = os.path.join(path, "saved_model.pb")
    if not (os.path.exists(pb) and os.path.exists(prefix + ".index")):
        return None  # a text SavedModel, or one without variables: nothing to gain
    partial = load_partial()
    if not partial:
        fallback(partial, _ORDINARY_LOAD)
        return None
    saved = saved_model_pb2.SavedModel()
    try:
        with open(pb, "rb") as f:
            data = f.read()
        saved.ParseFromString(data)
    except DecodeError:
        return None  # the ordinary load reports it
    wanted = set(tags or ["serve"])
    metas = [m for m in saved.meta_graphs if set(m.meta_info_def.tags) == wanted] or \
        (list(saved.meta_graphs) if len(saved.meta_graphs) == 1 and not tags else [])
    if len(metas) != 1 or not metas[0].object_graph_def.nodes:
        return None  # no such tags (the ordinary load says so) or a TF1 SavedModel without objects
    nodes = metas[0].object_graph_def.nodes
    paths, queue = {0: "root"}, [0]
    while queue:
        node = queue.pop(0)
        for child in nodes[node].children:
            if child.node_id not in paths:
                paths[child.node_id] = f"{paths[node]}.{child.local_name}"
                queue.append(child.node_id)
    variable_ids = [i for i, n in enumerate(nodes) if n.WhichOneof("kind") == "variable" and i in paths]
    bundle = Checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    try:
        graph.ParseFromString(bundle.object_graph() or b"")
    except DecodeError:
        fallback(f"{path}: the checkpoint's object graph does not parse", _ORDINARY_LOAD)
        return None
    keys = {i: a.checkpoint_key for i, n in enumerate(graph.nodes) for a in n.attributes
            if a.name == "VARIABLE_VALUE"}
    if b"Tfforge" in data:  # tfforge's ops appear in its graphs: register them (others skip the library)
        load_tfforge_ops()
    try:
        loaded = partial.value(path, ["root"] + [paths[i] for i in variable_ids], tags=list(tags) if tags else None,
                               options=tf().saved_model.LoadOptions(experimental_skip_checkpoint=True))
    except (ValueError, TypeError, KeyError, OSError, tf().errors.OpError) as exc:
        raise ConversionError(f"cannot load SavedModel: {' '.join(str(exc).split())[:300]}", path=path) from None
    by_handle = {}
    for i in variable_ids:
        variable, key = loaded[paths[i]], keys.get(i)
        if key is None or key not in bundle or tuple(bundle.shape(key)) != tuple(variable.shape) or \
                bundle.dtype_name(key) != variable.dtype.name:
            fallback(f"{path}: variable {paths[i]} has no matching tensor in variables/ (key {key!r})", _ORDINARY_LOAD)
            return None
        by_handle[id(variable.handle)] = key
    root = loaded["root"]
    root._tfforge_keep_alive = loaded  # noqa: SLF001  (our attribute: the signature functions capture these variables)
    from tfforge.convert.checkpoint_source import weight
    return root, lambda external: weight(bundle, by_handle[id(external)]) if id(external) in by_handle else None
