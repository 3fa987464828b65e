"""The one way tfforge's Python code writes outputs (the C++ side uses cc/io/atomic_file.h).

A file is written to a temporary name in the target's directory, created with O_EXCL|O_NOFOLLOW under
an unpredictable name (a planted file or symlink is never opened) and mode 0666 filtered by the
umask, like any other new file; on success it is fsync'd and renamed over the target, then the
directory is fsync'd. On failure the temporary file is removed and the old target is untouched.
Directory outputs (SavedModels) are built in a temporary directory beside the target and renamed
into place when complete.

Temporary names are ".<name>.tmp-<pid>-<16 hex>", the same as the C++ writer's, so
cleanup_stale_temps() removes the leftovers of killed runs of either; every new write calls it for
its own target. A writer holds an exclusive flock on its temporary file (or directory) while it
writes, and a leftover is removed only when its process is gone AND nobody holds that lock, so the
temporary file of a live writer is never removed, even one in another PID namespace (a container
sharing the directory) whose pid means nothing here.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import shutil
import stat
import threading

from tfforge.errors import OutputError

_TEMP_RE = re.compile(r"\.tmp-(\d+)-[0-9a-f]{16}$")
# Temporary paths of the writes in flight, removed by the CLI when a signal ends the process.
_live: set[str] = set()
_live_lock = threading.Lock()


def temp_name(path: str) -> str:
    """A fresh, unpredictable temporary path beside `path`."""
    head, base = os.path.split(os.fspath(path))
    return os.path.join(head, f".{base}.tmp-{os.getpid()}-{secrets.token_hex(8)}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _lock(fd: int) -> bool:
    """Takes the writer's exclusive lock on a temporary file or directory; False when another holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _remove_if_unlocked(entry: os.DirEntry) -> bool:
    """Removes a leftover temporary file or directory unless a writer still holds its lock."""
    is_dir = entry.is_dir(follow_symlinks=False)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK | (os.O_DIRECTORY if is_dir else 0)
    try:
        fd = os.open(entry.path, flags)
    except OSError:
        return False
    try:
        if not _lock(fd):
            return False  # a live writer (pid from another PID namespace, say)
        if is_dir:
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def cleanup_stale_temps(directory: str, prefix: str) -> int:
    """Removes temporary files and directories "<directory>/.<prefix>*.tmp-<pid>-<hex>" whose process
    no longer runs and whose writer's lock is free (left by a killed run); returns how many were
    removed. Never raises."""
    want = "." + prefix
    removed = 0
    try:
        entries = list(os.scandir(directory or "."))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(want):
            continue
        m = _TEMP_RE.search(entry.name)
        if not m or _pid_alive(int(m.group(1))):
            continue
        removed += _remove_if_unlocked(entry)
    return removed


def _output_error(exc: OSError, path: str) -> OutputError:
    reason = exc.strerror or str(exc)
    return OutputError(f"cannot write the output: {reason}", path=os.fspath(path))


def _sync_dir(directory: str) -> None:
    try:
        fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # a directory we may write into but not read: the rename itself stands
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EROFS, errno.EBADF):
            raise
    finally:
        os.close(fd)


def _register(tmp: str) -> None:
    with _live_lock:
        _live.add(tmp)


def _unregister(tmp: str) -> None:
    with _live_lock:
        _live.discard(tmp)


def remove_live_temps() -> None:
    """Removes the temporary files and directories of writes still in flight, Python's and the native
    writers' (signal cleanup)."""
    import sys
    native = sys.modules.get("tfforge._native")
    if native is not None and hasattr(native, "io_remove_live_temps"):
        native.io_remove_live_temps()
    with _live_lock:
        paths = list(_live)
        _live.clear()
    for p in paths:
        try:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                os.unlink(p)
        except OSError:
            pass


def _create_temp(path: str) -> tuple[str, int]:
    head, base = os.path.split(path)
    cleanup_stale_temps(head, base)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    for _ in range(16):
        tmp = temp_name(path)
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _output_error(exc, path) from None
        _lock(fd)
        _register(tmp)
        return tmp, fd
    raise OutputError("cannot create a temporary file beside the output", path=path)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None):
    """Context manager yielding a file object open for writing; `path` receives the bytes only when
    the block completes. mode: "wb" or "w" (text, utf-8 unless `encoding` says otherwise)."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write mode must be 'wb' or 'w', not {mode!r}")
    path = os.fspath(path)
    if not os.path.basename(path):
        raise OutputError("not a file name", path=path)
    tmp, fd = _create_temp(path)
    committed = False
    try:
        if mode == "w":
            f = os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline)
        else:
            f = os.fdopen(fd, "wb")
        with f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        committed = True
        _sync_dir(os.path.dirname(path))
    except OSError as exc:
        if exc.filename is None or exc.filename == tmp:
            raise _output_error(exc, path) from exc
        raise
    finally:
        _unregister(tmp)
        if not committed:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def write_bytes(path, data: bytes) -> None:
    with atomic_write(path, "wb") as f:
        f.write(data)


def write_text(path, text: str) -> None:
    with atomic_write(path, "w") as f:
        f.write(text)


def _fsync_tree(root: str) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            if os.path.islink(p):
                continue
            fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _sync_dir(dirpath)


def _exchange(a: str, b: str) -> bool:
    """Atomically swaps two paths (renameat2 RENAME_EXCHANGE); False where the system cannot."""
    import ctypes
    import sys
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err))


@contextlib.contextmanager
def atomic_directory(path):
    """Context manager yielding the path of a new, empty temporary directory beside `path`; when the
    block completes, its files are fsync'd and it replaces `path` (an existing directory at `path` is
    removed; an existing file is an error). On failure the temporary directory is removed."""
    path = os.fspath(path).rstrip("/") or "/"
    head, base = os.path.split(path)
    if not base or base in (".", ".."):
        raise OutputError("not a directory name that can be replaced", path=path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _output_error(exc, path) from None
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise OutputError("exists and is not a directory", path=path)
    cleanup_stale_temps(head, base)
    tmp = temp_name(path)
    try:
        os.mkdir(tmp, 0o777)
        lock_fd = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.rmdir(tmp)
        raise _output_error(exc, path) from None
    _lock(lock_fd)  # held until the end: the directory of a live write is never taken for a leftover
    _register(tmp)
    old = None
    try:
        yield tmp
        _fsync_tree(tmp)
        if st is not None and _exchange(tmp, path):
            old, tmp = tmp, None  # the old directory now sits at the temporary name
        else:
            if st is not None:  # no atomic exchange here: move the old one aside first
                old = temp_name(path)
                _register(old)
                os.rename(path, old)
            try:
                os.rename(tmp, path)
            except OSError:
                if old is not None:
                    os.rename(old, path)
                    old = None
                raise
        _sync_dir(head)
    except OSError as exc:
        if exc.filename is None or exc.filename in (tmp, old):
            raise _output_error(exc, path) from exc
        raise
    finally:
        for p in (tmp, old):
            if p is not None:
                _unregister(p)
                if os.path.lexists(p):
                    shutil.rmtree(p, ignore_errors=True)
        os.close(lock_fd)
