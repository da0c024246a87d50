"""Backing up the embedded store (Qdrant Edge under QDRANT_PATH).

Edge has no snapshot API of its own: with the store held by this process (no other can write
to it) and every shard flushed, its files are a consistent copy. The archive holds
`aliases.json` and `collections/`, paths relative to QDRANT_PATH; restoring is unpacking it
into an empty QDRANT_PATH (README, "Backups"), then `reconcile_vectors --fix` for what
changed in PostgreSQL since.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from vectors.client import GuardedClient
from vectors.conf import Engine
from vectors.exceptions import VectorStoreError

MEMBERS = ("aliases.json", "collections")


@dataclass(frozen=True)
class BackupReport:
    archive: Path
    files: int
    bytes: int


def backup_store(*, client: GuardedClient, archive: Path) -> BackupReport:
    """Write the embedded store to `archive` (.tar, or .tar.gz), whole or not at all."""
    if client.engine is not Engine.EDGE:
        raise VectorStoreError(
            f"{client.config.label} is not an embedded store on disk: back up a Qdrant server "
            "with its snapshots (https://qdrant.tech/documentation/concepts/snapshots/)."
        )
    root = Path(client.config.path)
    client.flush()
    mode = "w:gz" if archive.name.endswith((".tar.gz", ".tgz")) else "w"
    partial = archive.with_name(f".{archive.name}.partial")
    files = size = 0
    try:
        with tarfile.open(partial, mode) as tar:
            for member in MEMBERS:
                for path in sorted(_walk(root / member)):
                    if path.name.startswith(".deleted-"):
                        continue  # a collection being removed
                    tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
                    if path.is_file():
                        files += 1
                        size += path.stat().st_size
        os.replace(partial, archive)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise VectorStoreError(f"Cannot write {archive}: {exc.strerror or exc}") from exc
    return BackupReport(archive=archive, files=files, bytes=size)


def _walk(path: Path):
    if not path.exists():
        return
    yield path
    if path.is_dir():
        for child in path.iterdir():
            if not child.name.startswith(".deleted-"):
                yield from _walk(child)
