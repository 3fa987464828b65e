"""Checkpoint surgery: keep, drop, rename and cast tensors into a new checkpoint.

A TF2 checkpoint's object graph (_CHECKPOINTABLE_OBJECT_GRAPH) maps each object's attributes to
tensor names; renames and drops are applied to it as well (checkpoint_key, and full_name where it
names the same tensor), so tf.train.Checkpoint.restore still finds every remaining variable."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from tfforge import _native
from tfforge.checkpoint import OBJECT_GRAPH_KEY, Checkpoint, Writer, _dtypes
from tfforge.errors import CheckpointError

CAST_TARGETS = ("float16", "bfloat16", "float32")


@dataclass
class EditPlan:
    only: list[str] = field(default_factory=list)         # regexes; when given, keep only matching tensors
    drop: list[str] = field(default_factory=list)         # regexes of tensors to leave out
    rename: dict[str, str] = field(default_factory=dict)  # exact OLD -> NEW
    rename_regex: list[tuple[str, str]] = field(default_factory=list)  # (pattern, replacement), re.sub
    cast: list[tuple[str, str]] = field(default_factory=list)  # (regex, float16|bfloat16|float32)


@dataclass
class EditReport:
    kept: int = 0
    dropped: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    cast: dict[str, str] = field(default_factory=dict)       # name -> "float32->float16"
    not_cast: list[str] = field(default_factory=list)        # matched a --cast but are not floating point
    object_graph_updated: bool = False


def _compile(patterns, what):
    out = []
    for p in patterns:
        try:
            out.append(re.compile(p))
        except re.error as exc:
            raise CheckpointError(f"bad {what} regex {p!r}: {exc}") from None
    return out


def _renamer(plan: EditPlan):
    rules = [(rx, repl) for rx, (_, repl) in zip(_compile([p for p, _ in plan.rename_regex], "rename"), plan.rename_regex)]

    def rename(name: str) -> str:
        if name in plan.rename:
            return plan.rename[name]
        for rx, repl in rules:
            if rx.search(name):
                try:
                    return rx.sub(repl, name)
                except (re.error, IndexError) as exc:
                    raise CheckpointError(f"bad rename replacement {repl!r}: {exc}") from None
        return name
    return rename


def plan_names(ckpt: Checkpoint, plan: EditPlan):
    """[(old name, new name)] of the tensors to write, in input order, and the dropped names."""
    only, drop = _compile(plan.only, "--only"), _compile(plan.drop, "--drop")
    rename = _renamer(plan)
    for old in plan.rename:
        if old not in ckpt:
            raise CheckpointError(f"--rename names tensor {old!r}, which the checkpoint does not have", path=ckpt.prefix)
    keep, dropped = [], []
    for name in ckpt.names():
        if name == OBJECT_GRAPH_KEY:
            continue
        if (only and not any(rx.search(name) for rx in only)) or any(rx.search(name) for rx in drop):
            dropped.append(name)
        else:
            keep.append((name, rename(name)))
    seen = {}
    for old, new in keep:
        if not new:
            raise CheckpointError(f"renaming {old!r} gives an empty name")
        if new == OBJECT_GRAPH_KEY:
            raise CheckpointError(f"renaming {old!r} onto the reserved {OBJECT_GRAPH_KEY}")
        if new in seen:
            raise CheckpointError(f"renames send both {seen[new]!r} and {old!r} to {new!r}")
        seen[new] = old
    return keep, dropped


def edit(src: str, dst: str, plan: EditPlan, *, state_file: bool = True) -> EditReport:
    """Writes the tensors of checkpoint SRC selected, renamed and cast by `plan` as checkpoint DST."""
    ckpt = Checkpoint(src)
    keep, dropped = plan_names(ckpt, plan)
    casts = list(zip(_compile([p for p, _ in plan.cast], "--cast"), [t for _, t in plan.cast]))
    for _, target in casts:
        if target not in CAST_TARGETS:
            raise CheckpointError(f"--cast target {target!r}; choose one of {', '.join(CAST_TARGETS)}")
    report = EditReport(kept=len(keep), dropped=dropped, renamed={o: n for o, n in keep if o != n})
    graph = ckpt.object_graph()
    if graph is not None:
        _check_object_keys(graph, report.renamed)
    with Writer(dst, state_file=state_file) as w:
        for old, new in keep:
            value = ckpt.read(old)
            dtype = ckpt.dtype_name(old)
            target = next((t for rx, t in casts if rx.search(old)), None)
            if target and target != dtype:
                if dtype in _dtypes.FLOATING:
                    value = value.astype(_dtypes.to_numpy(_dtypes.number(target)))
                    report.cast[new] = f"{dtype}->{target}"
                    dtype = target
                else:
                    report.not_cast.append(old)
            w.add(new, value, dtype=dtype)
        if graph is not None:
            w.add(OBJECT_GRAPH_KEY, np.array(rewrite_object_graph(graph, keep, dropped, _renamer(plan)), dtype=object))
            report.object_graph_updated = bool(report.renamed or dropped)
    return report


def _check_object_keys(graph: bytes, renamed: dict) -> None:
    """tf.train.Checkpoint.restore takes each key up to its '.ATTRIBUTES/' as the saveable's name, so
    an object-graph key renamed without that part could never be restored."""
    marker = "/.ATTRIBUTES/"
    for _, _, _, key in _native.object_graph_attributes(graph):
        new = renamed.get(key)
        if new is not None and marker in key and marker not in new:
            raise CheckpointError(f"renaming {key!r} to {new!r}: a TF2 checkpoint key must keep its "
                                  f"'{marker}' part (e.g. {new + '/.ATTRIBUTES/VARIABLE_VALUE'!r}) to stay restorable")


def rewrite_object_graph(graph: bytes, keep, dropped, rename) -> bytes:
    """The object graph with attributes following renamed tensors and without dropped ones."""
    renamed = {old: new for old, new in keep if old != new}
    changes: dict = {name: None for name in dropped}
    for _, _, full_name, key in _native.object_graph_attributes(graph):
        if key in renamed:
            new_full = renamed[key] if full_name == key else (rename(full_name) if full_name else full_name)
            changes[key] = (renamed[key], new_full)
    if not changes:
        return graph
    return _native.rewrite_object_graph(graph, changes)
