"""Making a written dataset visible all at once, and cleaning up after runs that could not.

Shards are finished (fsync'd) under their temporary names (cc/record/file_writer.h over
cc/io/atomic_file.h) and the spec JSON likewise (tfforge._io.atomic_write); ``commit_dataset`` then
removes the old dataset at the prefix (spec first, then every shard of any count), renames the new
shards into place and the spec last. At every point of that sequence a reader finds either the old
dataset, the new one, or an incomplete set of ``-of-N`` shards, which readers refuse
(reader.check_complete): never a mix that looks complete.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import signal
import threading

from tfforge import _io
from tfforge.errors import OutputError


def _os_error(exc: OSError, path: str, what: str) -> OutputError:
    return OutputError(f"{what}: {exc.strerror or exc}", path=path)


def make_folder(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, folder, "cannot create the output folder") from None


def remove_stale_temps(prefix: str) -> int:
    """Removes what runs that died (SIGKILL, a crash, power loss) left beside a dataset prefix: temporary
    shards and spec files ``.<name>*.tmp-<pid>-<random>`` whose process no longer exists."""
    folder, base = os.path.split(prefix)
    return _io.cleanup_stale_temps(folder or ".", base)


@contextlib.contextmanager
def terminate_as_exit():
    """SIGTERM cleans up like Ctrl-C while a dataset is written: it raises SystemExit(143) in the main
    thread, so temporary files are removed on the way out. Only where SIGTERM still has its default
    action (a program's own handler is left alone) and in the main thread (where handlers run)."""
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def existing_shards(prefix: str) -> list[str]:
    return sorted(glob.glob(glob.escape(prefix) + "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].tfrecord*"))


class _ShardFailure(Exception):
    """Carries an error of the shard renames out through atomic_write (which would report an OSError
    as a failure of the spec file)."""

    def __init__(self, error: BaseException):
        super().__init__(str(error))
        self.error = error


def commit_dataset(prefix: str, files: list, paths: list[str], spec_json: dict) -> None:
    """Publishes finished shard writers (``files``, to ``paths``) and the spec, replacing whatever
    dataset was at ``prefix``. On failure nothing of the new dataset remains visible."""
    spec_file = f"{prefix}.spec.json"
    for p in paths + [spec_file]:
        if os.path.isdir(p) and not os.path.islink(p):
            raise OutputError("cannot write the dataset: a folder has this name", path=p)
    published: list[str] = []
    try:
        with _io.atomic_write(spec_file, "w") as f:
            json.dump(spec_json, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())  # a full disk fails here, before anything visible changes
            try:
                _replace(prefix, files, paths, spec_file, published)
            except BaseException as exc:  # noqa: BLE001 - re-raised unchanged below
                raise _ShardFailure(exc) from None
        # Leaving the block renamed the spec into place: the new dataset is complete.
    except BaseException as exc:
        for p in published:
            with contextlib.suppress(OSError):
                os.unlink(p)
        if isinstance(exc, _ShardFailure):
            raise exc.error from None
        raise


def _replace(prefix: str, files: list, paths: list[str], spec_file: str, published: list[str]) -> None:
    # The old dataset goes first, its spec before its shards, so that an interrupted commit leaves an
    # incomplete set of shards (refused by readers), never old and new shards mixed.
    for old in [spec_file] + existing_shards(prefix):
        try:
            os.unlink(old)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _os_error(exc, old, "cannot remove the earlier dataset's file") from None
    for f, p in zip(files, paths):
        f.commit(p)
        published.append(p)
