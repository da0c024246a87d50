"""Room on the embedded store's disk: writes stop, in one line, before the disk is full.

Qdrant Edge writes through memory-mapped files. When the disk is full, a write into a page
with no block behind it is not an error the engine sees: the kernel kills the process with
SIGBUS, with no message. Opening the store is a write too: it replays the last operations of
the write-ahead log into those files, so after a crash on a full disk every process that
opened the store died the same way (reproduced on a 200 MB tmpfs: a store that crashed
mid-write killed its opener with SIGBUS at up to 1 MB free, and opened at 2 MB).

So, with Qdrant Edge:
- every write first checks that QDRANT_MIN_FREE_MB stays free (room for the batch, the
  write-ahead log's next 32 MB segment, and what segments grow by);
- an index build also needs room for the segment it writes beside the old one;
- opening needs room for what the write-ahead log may replay (at most its own size).
Reads need no room: a web process whose disk fills keeps serving searches.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from vectors.conf import QdrantConfig
from vectors.exceptions import StoreDiskFull

MB = 1024 * 1024
# Opening writes a little besides the replay (the write-ahead log's next segment is a sparse
# file, filled as it is written).
OPEN_SLACK_BYTES = 4 * MB
# What an index build writes per vector besides the vector itself: its HNSW links, payload
# and id tracker (generous: m=16 links of 4 bytes on two levels, plus payload).
BUILD_BYTES_PER_POINT = 1024


def free_bytes(path: str) -> int:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    target = Path(path)
    while not target.exists() and target != target.parent:
        target = target.parent
    return shutil.disk_usage(target).free


def _mb(size: int) -> str:
    return f"{size / MB:,.0f} MB"


def _refuse(config: QdrantConfig, free: int, needed: int, what: str) -> StoreDiskFull:
    return StoreDiskFull(
        f"{config.label}: only {_mb(free)} free on its disk; {what} needs {_mb(needed)}. "
        "Free some space, or move QDRANT_PATH to a larger disk.",
        free_bytes=free,
    )


def ensure_room_to_write(config: QdrantConfig, *, extra_bytes: int = 0, what: str = "") -> None:
    """Raise StoreDiskFull unless QDRANT_MIN_FREE_MB (plus `extra_bytes`) is free."""
    needed = config.min_free_mb * MB + extra_bytes
    free = free_bytes(config.path)
    if free < needed:
        margin = f"QDRANT_MIN_FREE_MB={config.min_free_mb:,}"
        raise _refuse(config, free, needed, f"{what or 'writing'} ({margin} included)")


def ensure_room_to_open(config: QdrantConfig) -> None:
    """Raise StoreDiskFull unless the write-ahead logs could be replayed on opening."""
    needed = OPEN_SLACK_BYTES + _write_ahead_log_bytes(Path(config.path))
    free = free_bytes(config.path)
    if free < needed:
        raise _refuse(config, free, needed, "opening it (replaying its write-ahead log)")


def build_bytes(points: int, vector_size: int) -> int:
    """What building the index of `points` unindexed points writes, at most."""
    return points * (vector_size * 4 + BUILD_BYTES_PER_POINT)


def low_disk(config: QdrantConfig) -> str | None:
    """A sentence for health and checks when writes would be refused, else None."""
    free = free_bytes(config.path)
    if free >= config.min_free_mb * MB:
        return None
    return (
        f"{config.label}: only {_mb(free)} free on its disk, under QDRANT_MIN_FREE_MB "
        f"({config.min_free_mb:,} MB): product changes are not delivered until space is freed "
        "(they wait in PostgreSQL); searches still work."
    )


def _write_ahead_log_bytes(root: Path) -> int:
    """Bytes the write-ahead logs of every collection under `root` occupy on disk (their
    segments are sparse files: the blocks, not the length, bound what a replay writes)."""
    total = 0
    for wal in root.glob("collections/*/wal"):
        for entry in os.scandir(wal):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
    return total
