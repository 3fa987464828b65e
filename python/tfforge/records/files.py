"""Finding, counting and verifying TFRecord files: the part of the reader that needs no numpy, so
`tfforge records count` and `records verify` start without importing it (tfforge.records.reader
re-exports these names)."""

from __future__ import annotations

import glob as _glob
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tfforge import _native
from tfforge.errors import SpecError, TfforgeError
from tfforge.records.raw import compression_arg as _compression_arg
from tfforge.records.raw import path_arg
from tfforge.records.spec import load, spec_path

_GLOB_CHARS = set("*?[")
SHARD_GLOB = "-[0-9][0-9][0-9][0-9][0-9]-of-[0-9][0-9][0-9][0-9][0-9].tfrecord*"
_SHARD_NAME = re.compile(r"^(?P<stem>.*)-(?P<i>\d{5})-of-(?P<n>\d{5})(?P<ext>\.tfrecord(?:\.gz|\.zz)?)?$")


def resolve_paths(paths_or_glob) -> list[str]:
    """Files from a path, a glob, a dataset prefix (its shards) or a list of those; sorted per pattern.

    A prefix or glob must give complete datasets: shards named ``-i-of-N`` must all be there, and of one
    N, or TfforgeError names what is missing (an interrupted write, a partial copy). Files listed one
    by one are taken as they are."""
    items = [paths_or_glob] if isinstance(paths_or_glob, (str, os.PathLike)) else list(paths_or_glob)
    out: list[str] = []
    for item in items:
        item = path_arg(item)
        if _GLOB_CHARS & set(item):
            found = sorted(_glob.glob(item))
            check_complete(found, item)
        elif os.path.isfile(item):
            found = [item]
        elif os.path.exists(item) and not os.path.isdir(item):
            raise TfforgeError("not a regular file (a FIFO, socket or device is not read)", path=item)
        else:
            found = _dataset_shards(item)
        if not found:
            raise TfforgeError("no TFRecord files match", path=item)
        out.extend(found)
    return out


def check_complete(paths: list[str], source: str) -> None:
    """Raises TfforgeError unless the ``-i-of-N`` shards among paths form whole sets, one N per name."""
    groups: dict[tuple, set] = {}
    for p in paths:
        m = _SHARD_NAME.match(p)
        if m:
            groups.setdefault((m["stem"], int(m["n"]), m["ext"] or ""), set()).add(int(m["i"]))
    counts: dict[str, list] = {}
    for (stem, n, ext), present in sorted(groups.items()):
        counts.setdefault(stem, []).append(f"-of-{n:05d}{ext}")
        missing = [i for i in range(n) if i not in present]
        if missing:
            names = ", ".join(f"{os.path.basename(stem)}-{i:05d}-of-{n:05d}{ext}" for i in missing[:4])
            more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
            raise TfforgeError(f"incomplete dataset: {len(missing)} of {n} shards missing ({names}{more}); "
                               "an interrupted write or a partial copy? To read some shards only, list them "
                               "one by one", path=source)
    for stem, sets in counts.items():
        if len(sets) > 1:
            raise TfforgeError(f"shards of {len(sets)} datasets share the name {os.path.basename(stem)} "
                               f"({', '.join(sets)}); remove the stale set or name the files", path=source)


def _dataset_shards(prefix: str) -> list[str]:
    """A dataset's shards: those its spec file lists (so leftovers of an earlier run with another shard
    count are not mixed in), else every file named like a shard of the prefix, as one complete set."""
    spec_file = spec_path(prefix)
    if os.path.isfile(spec_file):
        shards = load(spec_file).metadata.get("shards")
        if shards:
            folder = os.path.dirname(prefix)
            paths = [os.path.join(folder, s) for s in shards]
            missing = [os.path.basename(p) for p in paths if not os.path.isfile(p)]
            if missing:
                more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
                raise TfforgeError(f"incomplete dataset: the spec file lists {len(paths)} shards, {len(missing)} "
                                   f"are missing ({', '.join(missing[:4])}{more})", path=spec_file)
            return paths
    found = sorted(_glob.glob(_glob.escape(prefix) + SHARD_GLOB))
    check_complete(found, prefix)
    return found


def default_workers() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers_arg(workers) -> int:
    if workers is None:
        return default_workers()
    if not isinstance(workers, int) or isinstance(workers, bool) or not 1 <= workers <= 1024:
        raise SpecError(f"workers must be an integer from 1 to 1024, not {workers!r}")
    return workers


def _per_file(fn, paths: list, workers) -> list:
    """fn(path) for every file, on up to ``workers`` threads at once (the native calls release the
    GIL), results in the order of paths."""
    n = min(workers_arg(workers), len(paths))
    if n <= 1:
        return [fn(p) for p in paths]
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, paths))


def count(paths_or_glob, *, compression="auto", workers: int | None = None) -> int:
    """Number of records in the files (framing is followed; data CRCs are not checked). Files are
    counted on ``workers`` threads at once (default: every core)."""
    comp = _compression_arg(compression)
    return sum(_per_file(lambda p: _native.count_records(p, comp), resolve_paths(paths_or_glob), workers))


@dataclass
class VerifyReport:
    """Per-file records, bytes and every CRC / framing (/ Example) error with record and byte offset."""

    files: list

    @property
    def records(self) -> int:
        return sum(f["records"] for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in self.files)

    @property
    def errors(self) -> list:
        return [e for f in self.files for e in f["errors"]]

    @property
    def ok(self) -> bool:
        return not self.errors

    def __str__(self):
        lines = [f"{len(self.files)} file(s), {self.records} records, {self.bytes} bytes, "
                 f"{len(self.errors)} error(s)"]
        for e in self.errors:
            lines.append(f"{e['path']}: record {e['record']}, byte offset {e['offset']}: {e['reason']}")
        return "\n".join(lines)


def verify(paths_or_glob, *, examples: bool = False, compression="auto", max_record_bytes: int = 1 << 31,
           workers: int | None = None) -> VerifyReport:
    """Checks every record's framing and CRCs (and with examples=True that each parses as an Example).

    Without examples, record data streams through a small buffer (memory does not grow with record
    sizes); with examples each record is held to be parsed, and a length beyond max_record_bytes is
    reported as an error instead of being read. Files are checked on ``workers`` threads at once
    (default: every core), and the records of one large uncompressed file are split among the threads
    left over; the report lists them in order."""
    comp = _compression_arg(compression)
    paths = resolve_paths(paths_or_glob)
    # Cores left over when there are fewer files than workers check the records of each large
    # uncompressed file in parallel (one file: all of them).
    per_file = max(1, workers_arg(workers) // max(1, len(paths)))
    return VerifyReport(_per_file(lambda p: _native.verify_file(p, comp, examples, max_record_bytes, per_file),
                                  paths, workers))
