"""Exceptions raised by tfforge, from Python and from native code alike.

Every error that concerns input data says where: the file, the record or node, and the byte offset
when they apply. Native code raises these classes by name (see cc/error.h).
"""

from __future__ import annotations


class TfforgeError(Exception):
    """Base class of all tfforge errors."""

    def __init__(self, message: str, *, path: str | None = None, offset: int | None = None,
                 record: int | None = None, node: str | None = None):
        self.message = message
        self.path = path
        self.offset = offset
        self.record = record
        self.node = node
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path:
            where.append(str(self.path))
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.node is not None:
            where.append(f"node '{self.node}'")
        if self.offset is not None:
            where.append(f"byte offset {self.offset}")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def __reduce__(self):  # keep the keyword fields when pickled across worker processes
        return (_rebuild, (type(self), self.message, self.path, self.offset, self.record, self.node))


def _rebuild(cls, message, path, offset, record, node):
    return cls(message, path=path, offset=offset, record=record, node=node)


class CorruptRecordError(TfforgeError, ValueError):
    """A TFRecord file or an Example inside it is malformed (bad CRC, truncation, bad length, bad proto)."""


class ClosedError(TfforgeError, ValueError):
    """A writer or reader was used after close() (TensorFlow: FailedPreconditionError)."""


class OutOfRangeError(TfforgeError, IndexError):
    """A byte offset lies beyond the end of a file's records (TensorFlow: OutOfRangeError / IndexError)."""


class SpecError(TfforgeError, ValueError):
    """A feature spec does not match the data, or a spec file is malformed."""


class WireFormatError(TfforgeError, ValueError):
    """Bytes that should be a protobuf message are malformed."""


class GraphError(TfforgeError, ValueError):
    """A graph is malformed or a request names something the graph does not have."""


class TransformError(GraphError):
    """A graph transform could not be parsed or applied."""


class CheckpointError(TfforgeError, ValueError):
    """A TensorFlow checkpoint is malformed or corrupt, or a checkpoint request names a missing tensor."""


class ConversionError(TfforgeError, RuntimeError):
    """A model could not be frozen, converted or exported."""


class FormatError(GraphError, ConversionError):
    """A path holds no model format tfforge can tell (tfforge.formats); both a GraphError and a
    ConversionError, so graph and convert callers catch it as their own."""


class TensorFlowNotInstalled(TfforgeError, ImportError):
    """The requested feature needs TensorFlow, which is not installed."""


class OpsNotBuiltError(TfforgeError, ImportError):
    """tfforge was built without its TensorFlow op library."""


class TensorFlowVersionMismatch(TfforgeError, ImportError):
    """The op library was built against a different TensorFlow than the one installed."""


class OutputError(TfforgeError, OSError):
    """An output file or directory could not be written (permission, full disk, read-only file system)."""
