"""Protobuf text format (.pbtxt) for GraphDef, MetaGraphDef and SavedModel, native both ways."""

from __future__ import annotations

import os

from tfforge import _native
from tfforge._io import write_bytes

GRAPH_DEF = "tensorflow.GraphDef"
META_GRAPH_DEF = "tensorflow.MetaGraphDef"
SAVED_MODEL = "tensorflow.SavedModel"


def message_type_for(path: str) -> str:
    """The message a file name suggests: saved_model.pb(txt) -> SavedModel, *.meta(.txt) -> MetaGraphDef,
    anything else GraphDef."""
    base = os.path.basename(path)
    if base.startswith("saved_model."):
        return SAVED_MODEL
    if base.endswith((".meta", ".meta.txt", ".meta.pbtxt")):
        return META_GRAPH_DEF
    return GRAPH_DEF


def read_text(path: str, message_type: str = GRAPH_DEF) -> bytes:
    """Parses a text-format file into wire bytes."""
    return _native.parse_text_file(message_type, os.fspath(path))


def parse(text, message_type: str = GRAPH_DEF) -> bytes:
    """Text format (str or bytes) -> wire bytes."""
    if isinstance(text, str):
        text = text.encode()
    return _native.parse_text(message_type, text)


def to_text(data, message_type: str = GRAPH_DEF) -> str:
    """Wire bytes -> text format, in the layout protobuf's text_format uses."""
    return _native.print_text(message_type, data).decode("utf-8")


def write_text(path: str, data, message_type: str = GRAPH_DEF) -> None:
    write_bytes(path, _native.print_text(message_type, data))


def binary_to_text(src: str, dst: str, message_type: str | None = None) -> None:
    """File to file; the input is memory-mapped and the output written atomically."""
    _native.binary_file_to_text(message_type or message_type_for(src), os.fspath(src), os.fspath(dst))


def text_to_binary(src: str, dst: str, message_type: str | None = None) -> None:
    _native.text_file_to_binary(message_type or message_type_for(src), os.fspath(src), os.fspath(dst))


