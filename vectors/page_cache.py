"""Reading an embedded store's files into the page cache when a web process starts.

Qdrant Edge reads vectors and HNSW links through memory-mapped files. After a start on a
cold page cache (a reboot, a deploy to a new machine, a restored store), every page a
search touches is first read from disk, one page at a time: on 50,000 products the first
searches took 20-40 ms instead of 1-3 ms until their pages were in. Reading the files once,
sequentially, gets them in at the disk's full speed. (posix_fadvise's WILLNEED would not
block, but the kernel read only the first 8 MB of each file on it here.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from pathlib import Path

# The files a search reads on every query, read first.
SEARCH_FILES = ("vector_storage", "vector_index")
# Never read more than this share of the memory available now: the page cache would drop
# the pages again (and others' with them).
MEMORY_SHARE = 0.5
CHUNK_BYTES = 1 << 20


def memory_available() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is no such file)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def files_to_read(segments: Path) -> list[Path]:
    """The files under `segments`, search files first, within MEMORY_SHARE of the memory
    available (what does not fit is left out)."""
    if not segments.is_dir():
        return []
    found = sorted(
        (path for path in segments.rglob("*") if path.is_file()),
        key=lambda path: not any(part in SEARCH_FILES for part in path.parts),
    )
    available = memory_available()
    budget = int(available * MEMORY_SHARE) if available is not None else 0
    chosen, total = [], 0
    for path in found:
        with contextlib.suppress(OSError):
            size = path.stat().st_blocks * 512  # sparse files: what is on disk
            if total + size <= budget:
                chosen.append(path)
                total += size
    return chosen


def read_into_cache(files: Iterable[Path], *, seconds: float | None) -> list[Path]:
    """Read `files` (into one reused buffer, nothing kept) until done or `seconds` have
    passed; returns the files not read to their end. The reads release the GIL."""
    deadline = None if seconds is None else time.monotonic() + seconds
    buffer = bytearray(CHUNK_BYTES)
    pending = list(files)
    while pending:
        # A file a build just replaced or removed has nothing to warm.
        with contextlib.suppress(OSError), open(pending[0], "rb", buffering=0) as handle:
            while handle.readinto(buffer):
                if deadline is not None and time.monotonic() >= deadline:
                    return pending  # what this one read is cached: read again, it is quick
        pending.pop(0)
    return pending


def read_rest_in_background(files: list[Path]) -> None:
    if files:
        threading.Thread(
            target=read_into_cache,
            args=(files,),
            kwargs={"seconds": None},
            name="read-ahead",
            daemon=True,
        ).start()
