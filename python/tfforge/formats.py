"""The one format detector: what a path holds, decided from its content, never from its name alone.

Every command that reads a model (inspect, graph transform / to-text / from-text / tensorboard, freeze,
convert, verify) asks `detect(path)`. It reads at most a few KB (plus a directory listing) and needs
neither TensorFlow nor numpy:

- directories: a SavedModel (saved_model.pb or .pbtxt inside) or a checkpoint directory (a
  `checkpoint` state file);
- TFLite flatbuffers ("TFL3" at byte 4), Keras .keras zips (config.json inside), HDF5 (.h5) files;
- checkpoints: a V2 prefix (PREFIX.index beside), its .index / .data-NNNNN-of-NNNNN files, and V1
  checkpoints (`Saver(write_version=V1)`: SSTable files with no .index, PREFIX or
  PREFIX-NNNNN-of-NNNNN);
- protobuf text format, told apart from binary by its bytes, then GraphDef / MetaGraphDef / SavedModel
  by its first field name (a text GraphDef named .pb loads as text, freeze_graph's input_binary=False);
- binary GraphDef / MetaGraphDef / SavedModel, told apart by their wire structure.
"""

from __future__ import annotations

import glob
import os
import re

from tfforge.errors import FormatError

SAVED_MODEL = "saved_model"          # a directory (or a saved_model.pb / .pbtxt file)
GRAPHDEF = "graphdef"                # binary GraphDef (frozen .pb)
GRAPHDEF_TEXT = "graphdef_text"      # text GraphDef (.pbtxt)
META_GRAPH = "meta_graph"            # binary MetaGraphDef (TF1 .meta)
META_GRAPH_TEXT = "meta_graph_text"  # text MetaGraphDef
CHECKPOINT = "checkpoint"            # V2 or V1 checkpoint: prefix, one of its files, or a directory
TFLITE = "tflite"
KERAS = "keras"                      # Keras 3 .keras zip (config.json + model.weights.h5)
KERAS_H5 = "h5"                      # Keras HDF5

# The names the convert package uses for the same kinds.
SAVEDMODEL, FROZEN, PBTXT, META = SAVED_MODEL, GRAPHDEF, GRAPHDEF_TEXT, META_GRAPH

GRAPH_KINDS = (GRAPHDEF, GRAPHDEF_TEXT, META_GRAPH, META_GRAPH_TEXT, SAVED_MODEL)
ALL = GRAPH_KINDS + (CHECKPOINT, TFLITE, KERAS, KERAS_H5)

# The protobuf message each graph kind's file holds.
MESSAGE_TYPES = {GRAPHDEF: "tensorflow.GraphDef", GRAPHDEF_TEXT: "tensorflow.GraphDef",
                 META_GRAPH: "tensorflow.MetaGraphDef", META_GRAPH_TEXT: "tensorflow.MetaGraphDef",
                 SAVED_MODEL: "tensorflow.SavedModel"}

_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZIP = b"PK\x03\x04"
# The last 8 bytes of a LevelDB-style table (TensorFlow's lib/io/table_format): V1 checkpoints and V2 .index.
_TABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
_SHARD = re.compile(r"(.*?)(?:\.data)?-\d{5}-of-\d{5}$")
_HEAD = 4096

# Top-level field names of each message in text format.
_TEXT_FIELDS = {
    GRAPHDEF_TEXT: {"node", "versions", "version", "library", "debug_info"},
    META_GRAPH_TEXT: {"meta_info_def", "graph_def", "saver_def", "collection_def", "signature_def",
                      "asset_file_def", "object_graph_def"},
    SAVED_MODEL: {"saved_model_schema_version", "meta_graphs"},
}


def detect(path: str | os.PathLike) -> str:
    """One of ALL; raises FormatError (a GraphError and a ConversionError) naming the path otherwise."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return _detect_dir(path)
    if not os.path.exists(path):
        if os.path.exists(path + ".index") or v1_checkpoint_files(path):
            return CHECKPOINT
        raise FormatError("no such file or directory (nor a checkpoint prefix)", path=path)
    if not os.path.isfile(path):
        raise FormatError("not a regular file", path=path)
    if os.path.exists(path + ".index") or _is_checkpoint_part(path):
        return CHECKPOINT
    head, tail = _read_ends(path)
    if os.path.basename(path) == "checkpoint" and head.lstrip().startswith(b"model_checkpoint_path"):
        return CHECKPOINT  # the state file of a checkpoint directory
    if head[4:8] == b"TFL3":
        return TFLITE
    if head.startswith(_ZIP):
        return KERAS
    if head.startswith(_HDF5):
        return KERAS_H5
    if tail == _TABLE_MAGIC and v1_checkpoint_files(path):
        return CHECKPOINT
    text = _text_kind(head)
    if text is not None:
        return text
    binary = _binary_kind(head)
    if binary is not None:
        return binary
    raise FormatError(_name_hint(path) or "cannot tell what kind of model file this is: not a GraphDef, "
                      "MetaGraphDef or SavedModel (binary or text), checkpoint, .tflite, .keras or .h5",
                      path=path, offset=0)


def checkpoint_prefix(path: str | os.PathLike) -> str:
    """The checkpoint prefix for a prefix, a `.index` / `.data-*` / V1 shard file name, or a directory
    whose `checkpoint` file names the latest checkpoint (relative paths are relative to that directory)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        return _latest_in_dir(path)
    if os.path.basename(path) == "checkpoint" and os.path.isfile(path):
        return _latest_in_dir(os.path.dirname(path) or ".")
    if path.endswith((".index", ".meta")):
        return path[: path.rindex(".")]
    m = _SHARD.match(path)
    if m and not os.path.exists(path + ".index"):
        return m.group(1)
    return path


def v1_checkpoint_files(prefix: str | os.PathLike) -> list[str]:
    """The table files of a V1 checkpoint at PREFIX (PREFIX itself, or PREFIX-NNNNN-of-NNNNN), [] if none."""
    prefix = os.fspath(prefix)
    if os.path.exists(prefix + ".index"):
        return []
    if os.path.isfile(prefix):
        return [prefix] if _read_ends(prefix)[1] == _TABLE_MAGIC and not prefix.endswith(".index") else []
    shards = sorted(glob.glob(glob.escape(prefix) + "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9]"))
    return shards if shards and all(_read_ends(s)[1] == _TABLE_MAGIC for s in shards) else []


def graph_file(path: str | os.PathLike, kind: str | None = None) -> str:
    """The file holding the graph message for a graph kind: saved_model.pb(txt) inside a SavedModel
    directory, the path itself otherwise."""
    path = os.fspath(path)
    kind = kind or detect(path)
    if kind == SAVED_MODEL and os.path.isdir(path):
        pb = os.path.join(path, "saved_model.pb")
        return pb if os.path.exists(pb) else os.path.join(path, "saved_model.pbtxt")
    return path


def is_text(path: str | os.PathLike) -> bool:
    """Whether a graph file is protobuf text format (by content)."""
    head, _ = _read_ends(os.fspath(path))
    return _text_kind(head) is not None


def text_kind(path: str | os.PathLike) -> str | None:
    """GRAPHDEF_TEXT, META_GRAPH_TEXT or SAVED_MODEL for a text-format file (by its first field), else None."""
    head, _ = _read_ends(os.fspath(path))
    return _text_kind(head)


# --- helpers ---------------------------------------------------------------------------------------

_NAME_HINTS = {
    ".keras": "named .keras but not a zip archive (a .keras file is a zip of config.json and the weights)",
    ".h5": "named .h5 but not an HDF5 file (bad signature)",
    ".hdf5": "named .hdf5 but not an HDF5 file (bad signature)",
    ".tflite": "named .tflite but not a TFLite flatbuffer (no TFL3 identifier at byte 4)",
}


def _name_hint(path: str) -> str | None:
    """What a file's name promised when its content is none of the formats (for the error message)."""
    return _NAME_HINTS.get(os.path.splitext(path)[1].lower())


def _detect_dir(path: str) -> str:
    if any(os.path.isfile(os.path.join(path, n)) for n in ("saved_model.pb", "saved_model.pbtxt")):
        return SAVED_MODEL
    if os.path.isfile(os.path.join(path, "checkpoint")):
        return CHECKPOINT
    raise FormatError("directory is neither a SavedModel (no saved_model.pb) nor a checkpoint directory "
                      "(no `checkpoint` file)", path=path)


def _is_checkpoint_part(path: str) -> bool:
    if path.endswith(".index"):
        return _read_ends(path)[1] == _TABLE_MAGIC
    m = re.match(r"(.*)\.data-\d{5}-of-\d{5}$", path)
    return bool(m) and os.path.exists(m.group(1) + ".index")


def _read_ends(path: str) -> tuple[bytes, bytes]:
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
            size = f.seek(0, os.SEEK_END)
            if size < 48:  # shorter than a table footer
                return head, b""
            f.seek(size - 8)
            return head, f.read(8)
    except OSError as exc:
        raise FormatError(f"cannot read: {exc.strerror}", path=path) from None


def _latest_in_dir(path: str) -> str:
    state = os.path.join(path, "checkpoint")
    if not os.path.exists(state):
        raise FormatError("directory has no `checkpoint` file", path=path)
    with open(state, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(r'^model_checkpoint_path:\s*"((?:[^"\\]|\\.)*)"', text, re.M)
    if not m:
        raise FormatError("the `checkpoint` file names no model_checkpoint_path", path=state)
    prefix = m.group(1).encode().decode("unicode_escape")
    if not os.path.isabs(prefix):
        prefix = os.path.join(path, prefix)
    if not (os.path.exists(prefix + ".index") or v1_checkpoint_files(prefix)):
        # Checkpoints moved with their directory keep absolute paths of the old place.
        moved = os.path.join(path, os.path.basename(prefix))
        if os.path.exists(moved + ".index") or v1_checkpoint_files(moved):
            return moved
        raise FormatError(f"the `checkpoint` file names {prefix}, which has no .index file (nor V1 table files)",
                          path=state)
    return prefix


_TOKEN = re.compile(rb"\s*(?:#[^\n]*\n\s*)*([A-Za-z_][A-Za-z0-9_]*)\s*[:{<]")


def _text_kind(head: bytes) -> str | None:
    """Text format when the head is printable UTF-8 starting with `field_name {` / `field_name:`."""
    if not head or any(b < 9 or 13 < b < 32 for b in head):
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a multi-byte character cut at the end of the head is fine
        if exc.start < len(head) - 4:
            return None
    m = _TOKEN.match(head)
    if not m:
        return None
    name = m.group(1).decode()
    for kind, fields in _TEXT_FIELDS.items():
        if name in fields:
            return kind
    return None


def _fields(data: bytes, limit: int = 64) -> list[tuple[int, int, bytes]]:
    """Top-level (field, wire type, payload head) of wire bytes, as far as `data` goes."""
    out, i = [], 0
    while i < len(data) and len(out) < limit:
        key, i = _varint(data, i)
        if key is None or key >> 3 == 0:
            return out
        field, wt = key >> 3, key & 7
        if wt == 0:
            _, i = _varint(data, i)
            payload = b""
        elif wt == 2:
            n, i = _varint(data, i)
            if n is None:
                return out
            payload, i = data[i:i + n], i + n
        elif wt == 1:
            payload, i = data[i:i + 8], i + 8
        elif wt == 5:
            payload, i = data[i:i + 4], i + 4
        else:
            return out
        if i > len(data) and wt != 2:
            return out
        out.append((field, wt, payload))
    return out


def _varint(data: bytes, i: int):
    v, shift = 0, 0
    while i < len(data) and shift < 64:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        if b < 0x80:
            return v, i
        shift += 7
    return None, i


_OP_NAME = re.compile(rb"^[A-Za-z_>][A-Za-z0-9_>.]*$")


def _binary_kind(head: bytes) -> str | None:
    fields = _fields(head)
    if not fields:
        return GRAPHDEF if not head else None
    first_field, first_type, first_payload = fields[0]
    if first_field == 1 and first_type == 0:  # SavedModel.saved_model_schema_version
        return SAVED_MODEL
    if first_type != 2:
        return None
    if first_field == 1:
        if sum(1 for f, _, _ in fields if f == 1) > 1:
            return GRAPHDEF  # repeated node
        # A NodeDef names its op (field 2) as an identifier; a MetaInfoDef's field 2 is an OpList message.
        inner = _fields(first_payload)
        ops = [p for f, t, p in inner if f == 2 and t == 2]
        if ops and _OP_NAME.match(ops[0]):
            return GRAPHDEF
        return META_GRAPH if any(f == 2 and t == 2 for f, t, _ in fields[1:]) or ops else None
    if first_field == 2:  # GraphDef.library or MetaGraphDef.graph_def (a GraphDef: nodes first)
        inner = _fields(first_payload)
        if inner and inner[0][0] == 1 and inner[0][1] == 2:
            node = _fields(inner[0][2])
            ops = [p for f, t, p in node if f == 2 and t == 2]
            if ops and _OP_NAME.match(ops[0]):
                return META_GRAPH
        return GRAPHDEF
    if first_field in (3, 4, 5):  # versions / debug info / a MetaGraphDef without info and graph
        return META_GRAPH if first_field in (3, 5) else GRAPHDEF
    return None
