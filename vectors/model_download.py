"""Fetching Marqo-FashionSigLIP's published ONNX export into VECTORS_MODEL_DIR with the
Hugging Face hub's own client library (huggingface_hub):

- at a pinned revision (model_files.REVISION), so every machine embeds with the same weights;
- verified: each file is checked against the hash the hub publishes for it (the sha256 of a
  large, LFS-stored file; the git blob id of a small one), and a file that does not match is
  removed and reported;
- resumable: a file's bytes arrive in `.download/<file>.<hash>.part` inside the folder and
  are moved into place only once verified; a run that is interrupted (even killed) leaves them
  there, and the next run asks the hub for the rest only. huggingface_hub resumes a dropped
  connection within a run, but since 2.x downloads to a fresh file per process, so resuming
  across runs is ours. A file already there and matching is not fetched again.

HF_ENDPOINT (a mirror), HF_TOKEN and HF_HUB_OFFLINE are huggingface_hub's own settings.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.errors import first_line
from vectors.embedders.model_files import REPOSITORY, REVISION, published_files

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_GIT_SHA1 = re.compile(r"^[0-9a-f]{40}$")
CHUNK = 8 * 1024 * 1024


class DownloadFailed(Exception):
    """The model could not be fetched or verified; the message is one line."""


@dataclass
class DownloadReport:
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    bytes_fetched: int = 0


def download_model(
    model_dir: str,
    *,
    precision: str,
    repository: str = REPOSITORY,
    revision: str = REVISION,
    endpoint: str | None = None,
    on_file: Callable[[str, int, bool], None] | None = None,
) -> DownloadReport:
    """Every file of the export in `precision` into `model_dir`. `on_file(name, size,
    fetched)` after each. Raises DownloadFailed (offline, unknown revision, a checksum that
    does not match), ValueError for an unknown precision."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers

    # hf_hub_url's default is the HF_ENDPOINT read when huggingface_hub was imported.
    endpoint = endpoint or constants.ENDPOINT
    report = DownloadReport()
    folder = Path(model_dir)
    for name in published_files(precision):
        url = hf_hub_url(repository, name, revision=revision, endpoint=endpoint)
        try:
            metadata = get_hf_file_metadata(url)
            expected = _published_hash(metadata.etag, name)
            local = folder / name
            if local.is_file() and _hash_of(local, expected) == expected[1]:
                report.present.append(name)
                if on_file:
                    on_file(name, local.stat().st_size, False)
                continue
            _fetch(name, metadata, expected, folder, build_hf_headers())
        except DownloadFailed:
            raise
        except Exception as exc:  # offline, unknown revision, a disk error: all one line
            raise DownloadFailed(f"{name}: {_why(exc)}") from exc
        size = local.stat().st_size
        report.fetched.append(name)
        report.bytes_fetched += size
        if on_file:
            on_file(name, size, True)
    return report


def _fetch(name: str, metadata, expected: tuple[str, str], folder: Path, headers) -> None:
    """The file into `.download/<name>.<hash>.part` (continuing what a previous run left
    there), verified, then moved into place."""
    from huggingface_hub.file_download import http_get

    partial = folder / ".download" / f"{name}.{expected[1][:16]}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    for stale in partial.parent.glob(f"{Path(name).name}.*.part"):
        if stale != partial:  # left by a run at another revision
            stale.unlink(missing_ok=True)
    have = partial.stat().st_size if partial.exists() else 0
    needed = (metadata.size or 0) - have
    free = shutil.disk_usage(partial.parent).free
    if needed > free:
        raise DownloadFailed(
            f"{name}: {needed / 1e6:,.0f} MB more are needed and {partial.parent} has "
            f"{free / 1e6:,.0f} MB free"
        )
    with partial.open("ab") as out:
        http_get(
            metadata.location,
            out,
            resume_size=have,
            headers=headers,
            expected_size=metadata.size,
            displayed_filename=name,
        )
    if _hash_of(partial, expected) != expected[1]:
        partial.unlink(missing_ok=True)
        raise DownloadFailed(
            f"{name} does not match the hub's {expected[0]} {expected[1][:12]}…: removed; "
            "run download_model again"
        )
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, folder / name)


def _published_hash(etag: str | None, name: str) -> tuple[str, str]:
    value = (etag or "").removeprefix("W/").strip('"').lower()
    if _SHA256.match(value):
        return "sha256", value
    if _GIT_SHA1.match(value):
        return "git blob id", value
    raise DownloadFailed(f"{name}: the hub gave no checksum to verify it by (ETag {etag!r})")


def _hash_of(path: Path, expected: tuple[str, str]) -> str:
    kind = expected[0]
    digest = hashlib.sha256() if kind == "sha256" else hashlib.sha1()  # noqa: S324 - git's id
    if kind != "sha256":
        digest.update(b"blob %d\0" % path.stat().st_size)
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _why(exc: Exception) -> str:
    """One line a person can act on, whatever huggingface_hub or its HTTP client raised."""
    from huggingface_hub import errors

    if isinstance(exc, errors.OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set; unset it to download"
    if isinstance(exc, errors.RevisionNotFoundError):
        return "the hub has no such revision"
    if isinstance(exc, errors.RepositoryNotFoundError):
        return "the hub has no such repository (or it needs HF_TOKEN)"
    if isinstance(exc, errors.EntryNotFoundError):
        return "the hub has no such file at this revision"
    name = type(exc).__name__
    if "Connect" in name or "Timeout" in name or isinstance(exc, ConnectionError):
        return f"cannot reach the Hugging Face hub ({first_line(exc)})"
    return first_line(exc)
