"""SIGINT and SIGTERM for the CLI: both raise in the main thread (SIGTERM as Terminated, a
KeyboardInterrupt), so `finally` blocks and tfforge._io remove temporary outputs as for Ctrl-C.

Python runs signal handlers only between bytecodes of the main thread; a long native call can delay
that. A watchdog thread learns of the signal at once through signal.set_wakeup_fd and, if the handler
has not run within WATCHDOG_S, or the unwinding it started has not left the block by DEADLINE_S, removes
the temporary outputs in flight and ends the process itself, so a signal always acts within half a second. (Temporary files of native writers that the watchdog
cannot see are removed by the next write to the same place; see tfforge._io.cleanup_stale_temps.)
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading

WATCHDOG_S = 0.25  # for the handler to start
DEADLINE_S = 0.4    # for the unwinding it starts (finally blocks, removing temporaries); the exit itself fits in the half second


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C's KeyboardInterrupt."""


@contextlib.contextmanager
def handled():
    """Installs the handlers and the watchdog for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ran = threading.Event()

    def on_signal(signum, frame):
        ran.set()
        if signum == signal.SIGTERM:
            raise Terminated()
        raise KeyboardInterrupt()

    r, w = os.pipe()
    os.set_blocking(w, False)
    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
        old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    except (ValueError, OSError):  # not the main interpreter thread after all
        for sig, h in previous.items():
            signal.signal(sig, h)
        os.close(r)
        os.close(w)
        yield
        return
    stop = threading.Event()
    watchdog = threading.Thread(target=_watch, args=(r, ran, stop), name="tfforge-signal-watchdog", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        stop.set()
        signal.set_wakeup_fd(old_fd)
        for sig, h in previous.items():
            signal.signal(sig, h)
        os.close(w)  # the watchdog reads EOF and returns
        watchdog.join(1.0)
        os.close(r)


def _watch(r: int, ran: threading.Event, stop: threading.Event) -> None:
    while True:
        try:
            data = os.read(r, 64)
        except OSError:
            return
        if not data or stop.is_set():
            return
        signums = [b for b in data if b in (signal.SIGINT, signal.SIGTERM)]
        if not signums:
            continue
        if (ran.wait(WATCHDOG_S) or stop.is_set()) and stop.wait(DEADLINE_S - WATCHDOG_S):
            ran.clear()
            continue
        _force_exit(signums[-1])


def _force_exit(signum: int) -> None:
    from tfforge import _io
    _io.remove_live_temps()
    name = "terminated" if signum == signal.SIGTERM else "interrupted"
    with contextlib.suppress(OSError):
        os.write(2, f"tfforge: {name}\n".encode())
    os._exit(128 + signum)
