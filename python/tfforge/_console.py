"""Output helpers shared by the CLI and long-running APIs: progress bars on stderr, plain tables."""

from __future__ import annotations

import sys
import time


def format_table(rows, headers) -> str:
    """Left-aligned text columns; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def line(r):
        return "  ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(r, widths, numeric)).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in cells[1:]]
    return "\n".join(out)


def _is_number(s: str) -> bool:
    try:
        float(s.replace(",", "").rstrip("x%"))
        return True
    except ValueError:
        return False


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"


class Progress:
    """A progress line on stderr with items/s and MB/s; silent when disabled or stderr is not a TTY
    (unless forced), so logs and pipes stay clean."""

    def __init__(self, desc: str, total: int | None = None, unit: str = "rec", enabled: bool = True,
                 force: bool = False, stream=None):
        self.stream = stream or sys.stderr
        self.enabled = enabled and (force or getattr(self.stream, "isatty", lambda: False)())
        self.desc, self.total, self.unit = desc, total, unit
        self.count = 0
        self.nbytes = 0
        self.start = time.perf_counter()
        self._last_draw = 0.0

    def update(self, count: int = 1, nbytes: int = 0) -> None:
        self.count += count
        self.nbytes += nbytes
        if self.enabled:
            now = time.perf_counter()
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw(final=False)

    def _draw(self, final: bool) -> None:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        done = f"{self.count:,}" + (f"/{self.total:,}" if self.total else "")
        pct = f" {100.0 * self.count / self.total:5.1f}%" if self.total else ""
        rate = f"{self.count / elapsed:,.0f} {self.unit}/s"
        mbs = f", {self.nbytes / elapsed / 1e6:,.1f} MB/s" if self.nbytes else ""
        end = "\n" if final else ""
        self.stream.write(f"\r{self.desc}:{pct} {done} {self.unit} [{elapsed:.1f}s, {rate}{mbs}]{end}")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(final=True)
            self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
