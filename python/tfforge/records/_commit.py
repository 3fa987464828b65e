"""Making a written dataset visible all at once, and cleaning up after runs that could not.

Shards are finished under hidden temporary names (``.<name>.tmp-<pid>-<random>``, see
cc/record/file_writer.h) and the spec JSON likewise; ``commit_dataset`` then removes the old dataset
at the prefix (spec first, then every shard of any count), renames the new shards into place and
the spec last. At every point of that sequence a reader finds either the old dataset, the new one,
or an incomplete set of ``-of-N`` shards, which readers refuse (reader.check_complete): never a mix
that looks complete.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import secrets
import signal
import threading

from tfforge.errors import TfforgeError

_TEMP_TAIL = r"\.tmp-(?P<pid>\d+)-[0-9a-f]{16}$"
_SHARD_PART = r"-\d{5}(?:-of-\d{5}\.tfrecord(?:\.gz|\.zz)?|\.partial)"


def _os_error(exc: OSError, path: str, what: str) -> TfforgeError:
    return TfforgeError(f"{what}: {exc.strerror or exc}", path=path)


def make_folder(folder: str) -> None:
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _os_error(exc, folder, "cannot create the output folder") from None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(path: str, *, dataset: bool = False) -> list[str]:
    """Removes temporary files that runs which died (SIGKILL, a crash, power loss) left beside ``path``:
    ``.<name>.tmp-<pid>-<random>`` of the file (or, for a dataset prefix, of its shards and spec) whose
    process no longer exists. Returns the removed paths."""
    folder, base = os.path.split(path)
    folder = folder or "."
    middle = f"(?:{_SHARD_PART}|\\.spec\\.json)" if dataset else ""
    pattern = re.compile("^\\." + re.escape(base) + middle + _TEMP_TAIL)
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = pattern.match(name)
        if not m or int(m["pid"]) == os.getpid() or _alive(int(m["pid"])):
            continue
        full = os.path.join(folder, name)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(full)
            removed.append(full)
    return removed


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


def _temp_json(path: str, obj) -> str:
    folder, base = os.path.split(path)
    temp = os.path.join(folder or ".", f".{base}.tmp-{os.getpid()}-{secrets.token_hex(8)}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise _os_error(exc, path, "cannot create") from None
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise _os_error(exc, path, "cannot write") from None
        raise
    return temp


def _fsync_folder(folder: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def existing_shards(prefix: str) -> list[str]:
    return sorted(glob.glob(glob.escape(prefix) + "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].tfrecord*"))


def commit_dataset(prefix: str, files: list, paths: list[str], spec_json: dict) -> None:
    """Publishes finished shard writers (``files``, to ``paths``) and the spec, replacing whatever
    dataset was at ``prefix``. On failure nothing of the new dataset remains visible."""
    spec_file = f"{prefix}.spec.json"
    spec_temp = _temp_json(spec_file, spec_json)  # a full disk fails here, before anything changes
    published: list[str] = []
    try:
        for p in paths + [spec_file]:
            if os.path.isdir(p) and not os.path.islink(p):
                raise TfforgeError("cannot write the dataset: a folder has this name", path=p)
        # The old dataset goes first, its spec before its shards, so that an interrupted commit leaves
        # an incomplete set of shards (refused by readers), never old and new shards mixed.
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
        try:
            os.rename(spec_temp, spec_file)
        except OSError as exc:
            raise _os_error(exc, spec_file, "cannot rename the spec file into place") from None
        _fsync_folder(os.path.dirname(spec_file) or ".")
    except BaseException:
        for p in published + [spec_temp]:
            with contextlib.suppress(OSError):
                os.unlink(p)
        raise
