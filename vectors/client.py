"""The one door to Qdrant.

`get_qdrant_client()` hands out a cached, thread-safe client for the configured Qdrant whose
every call raises `vectors.exceptions` errors instead of qdrant-client, httpx, gRPC or Qdrant
Edge ones. Behind it:

- a server (QDRANT_URL / QDRANT_HOST): qdrant-client;
- a path (QDRANT_PATH, `var/qdrant` by default): Qdrant Edge, Qdrant's engine in-process,
  through `vectors.edge.EdgeStore`, which speaks qdrant-client's API;
- QDRANT_PATH=:memory:: qdrant-client's local mode, a pure-Python stand-in kept as the test
  double of the server's API.

Other modules use `models` from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import httpx
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from config.errors import first_line
from config.processes import alive
from vectors.conf import Engine, QdrantConfig, qdrant_config
from vectors.disk import build_bytes, ensure_room_to_open, ensure_room_to_write
from vectors.exceptions import (
    CollectionAlreadyExists,
    CollectionNotFound,
    StoreHeld,
    VectorStoreError,
    VectorStoreUnavailable,
)

__all__ = [
    "QdrantClient",
    "get_async_qdrant_client",
    "get_qdrant_client",
    "models",
    "reset_qdrant_clients",
]

# How often to retry opening an embedded store that another process holds, while waiting.
LOCK_RETRY_SECONDS = 0.2
# The calls that write to an embedded store (reads need no room on its disk).
EDGE_WRITES = frozenset(
    {
        "create_collection",
        "create_payload_index",
        "delete_payload_index",
        "upsert",
        "delete",
        "set_payload",
        "batch_update_points",
        "optimize",
    }
)

logger = logging.getLogger(__name__)

_UNAVAILABLE_GRPC_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def _response_text(exc: UnexpectedResponse) -> str:
    try:
        return str(exc.structured().get("status", {}).get("error") or "")
    except Exception:
        return exc.content[:200].decode(errors="replace")


@contextmanager
def translate_errors(config: QdrantConfig) -> Iterator[None]:
    """Turn what qdrant-client, httpx, gRPC and local mode raise into VectorStoreError."""
    label = config.label
    try:
        yield
    except VectorStoreError:
        raise
    except UnexpectedResponse as exc:
        detail = _response_text(exc)
        status = exc.status_code or 0
        if status == 404:
            raise CollectionNotFound(f"{label}: {detail or 'not found'}") from exc
        if status == 409 or "already exists" in detail:
            raise CollectionAlreadyExists(f"{label}: {detail}") from exc
        if status in (401, 403):
            raise VectorStoreUnavailable(
                f"{label} refused the request ({status}): check QDRANT_API_KEY."
            ) from exc
        if status == 429 or status >= 500:
            raise VectorStoreUnavailable(f"{label} answered {status}: {detail}") from exc
        raise VectorStoreError(f"{label} rejected the request ({status}): {detail}") from exc
    except ResponseHandlingException as exc:
        raise VectorStoreUnavailable(f"{label} is unreachable: {first_line(exc.source)}") from exc
    except (httpx.TransportError, ConnectionError, TimeoutError) as exc:
        raise VectorStoreUnavailable(f"{label} is unreachable: {first_line(exc)}") from exc
    except grpc.RpcError as exc:
        code = exc.code() if hasattr(exc, "code") else None
        details = exc.details() if hasattr(exc, "details") else ""
        if code in _UNAVAILABLE_GRPC_CODES:
            raise VectorStoreUnavailable(f"{label} is unreachable: {details}") from exc
        if code == grpc.StatusCode.NOT_FOUND:
            raise CollectionNotFound(f"{label}: {details}") from exc
        if code == grpc.StatusCode.ALREADY_EXISTS or "already exists" in (details or ""):
            raise CollectionAlreadyExists(f"{label}: {details}") from exc
        if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
            raise VectorStoreUnavailable(
                f"{label} refused the request: check QDRANT_API_KEY."
            ) from exc
        raise VectorStoreError(f"{label}: {details or code}") from exc
    except ValueError as exc:
        # Local mode reports missing and duplicate collections as ValueError.
        message = first_line(exc)
        if "not found" in message:
            raise CollectionNotFound(f"{label}: {message}") from exc
        if "already exists" in message:
            raise CollectionAlreadyExists(f"{label}: {message}") from exc
        raise VectorStoreError(f"{label}: {message}") from exc


class GuardedClient:
    """A QdrantClient whose calls raise only VectorStoreError, with the methods this project
    uses (a new one is added here, typed, rather than reached through to qdrant-client).

    Embedded, every call takes one lock: local mode keeps its points in plain dictionaries
    and corrupts them under concurrent writes from threads; the Edge adapter opens shards
    lazily and keeps the alias map in memory (the web server's sync thread and its requests
    share one client).
    """

    def __init__(self, client: Any, config: QdrantConfig, store_lock: Any = None):
        self._client = client
        self.config = config
        self._store_lock = store_lock
        self._call_lock = threading.RLock() if config.engine.in_process else None

    @property
    def engine(self) -> Engine:
        return self.config.engine

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self._client, name)
        if name in EDGE_WRITES and self.engine is Engine.EDGE:
            # A write on a full disk would kill this process (vectors/disk.py).
            ensure_room_to_write(self.config)
        with translate_errors(self.config):
            if self._call_lock is None:
                return method(*args, **kwargs)
            with self._call_lock:
                return method(*args, **kwargs)

    # Collections and aliases.
    def get_collections(self) -> models.CollectionsResponse:
        return self._call("get_collections")

    def get_collection(self, collection_name: str) -> models.CollectionInfo:
        return self._call("get_collection", collection_name)

    def collection_exists(self, collection_name: str) -> bool:
        return self._call("collection_exists", collection_name)

    def create_collection(self, collection_name: str, **options: Any) -> bool:
        return self._call("create_collection", collection_name, **options)

    def delete_collection(self, collection_name: str) -> bool:
        return self._call("delete_collection", collection_name)

    def update_collection_metadata(self, collection_name: str, metadata: dict[str, Any]) -> bool:
        """Merge `metadata` into the collection's own (a None value removes a key)."""
        return self._call("update_collection", collection_name=collection_name, metadata=metadata)

    def create_payload_index(
        self, collection_name: str, field_name: str, field_schema: Any, **options: Any
    ) -> models.UpdateResult:
        return self._call(
            "create_payload_index", collection_name, field_name, field_schema, **options
        )

    def delete_payload_index(
        self, collection_name: str, field_name: str, **options: Any
    ) -> models.UpdateResult:
        return self._call("delete_payload_index", collection_name, field_name, **options)

    def get_aliases(self) -> models.CollectionsAliasesResponse:
        return self._call("get_aliases")

    def update_collection_aliases(
        self, change_aliases_operations: list[Any], **options: Any
    ) -> bool:
        return self._call(
            "update_collection_aliases",
            change_aliases_operations=change_aliases_operations,
            **options,
        )

    # Points.
    def upsert(
        self, collection_name: str, points: list[models.PointStruct], **options: Any
    ) -> models.UpdateResult:
        return self._call("upsert", collection_name=collection_name, points=points, **options)

    def delete(
        self, collection_name: str, points_selector: Any, **options: Any
    ) -> models.UpdateResult:
        return self._call(
            "delete", collection_name=collection_name, points_selector=points_selector, **options
        )

    def set_payload(
        self, collection_name: str, payload: dict[str, Any], points: Any, **options: Any
    ) -> models.UpdateResult:
        return self._call(
            "set_payload",
            collection_name=collection_name,
            payload=payload,
            points=points,
            **options,
        )

    def batch_update_points(
        self, collection_name: str, update_operations: list[Any], **options: Any
    ) -> list[models.UpdateResult]:
        return self._call(
            "batch_update_points",
            collection_name=collection_name,
            update_operations=update_operations,
            **options,
        )

    def retrieve(self, collection_name: str, ids: list[str], **options: Any) -> list[models.Record]:
        return self._call("retrieve", collection_name, ids, **options)

    def scroll(self, collection_name: str, **options: Any) -> tuple[list[models.Record], Any]:
        return self._call("scroll", collection_name, **options)

    def count(self, collection_name: str, **options: Any) -> models.CountResult:
        return self._call("count", collection_name, **options)

    def query_points(self, collection_name: str, **options: Any) -> models.QueryResponse:
        if self.engine is Engine.MEMORY:
            # Local mode always searches exhaustively, and warns on every query that brings
            # graph-walk parameters (ef, ACORN).
            options.pop("search_params", None)
        return self._call("query_points", collection_name, **options)

    def query_batch_points(
        self, collection_name: str, requests: list[models.QueryRequest], **options: Any
    ) -> list[models.QueryResponse]:
        """Several searches in one call (one round trip to a server; Edge runs them at once)."""
        if self.engine is Engine.MEMORY:
            requests = [request.model_copy(update={"params": None}) for request in requests]
        return self._call("query_batch_points", collection_name, requests, **options)

    # Embedded Qdrant Edge only.

    def optimize(self, collection_name: str) -> bool:
        """Build the HNSW index and merge segments, blocking (minutes at a million points,
        holding the GIL): for commands only, never inside a request. A server, and local
        mode, index by themselves: False, nothing done."""
        if self.engine is not Engine.EDGE:
            return False
        info = self.get_collection(collection_name)
        unindexed = max(0, (info.points_count or 0) - (info.indexed_vectors_count or 0))
        ensure_room_to_write(
            self.config,
            extra_bytes=build_bytes(unindexed, self.config.vector_size),
            what=f"building the index of {unindexed:,} vectors",
        )
        return self._call("optimize", collection_name)

    def read_ahead(self, collection_name: str, *, seconds: float) -> None:
        """Embedded Qdrant Edge: read the collection's files into the page cache, so that
        the first searches after a start do not each wait for the disk (vectors/
        page_cache.py): for `seconds` here, the rest in a background thread. Nothing
        elsewhere."""
        if self.engine is not Engine.EDGE:
            return
        from vectors.page_cache import files_to_read, read_into_cache, read_rest_in_background

        segments = self._call("segments_dir", collection_name)
        rest = read_into_cache(files_to_read(segments), seconds=seconds)
        read_rest_in_background(rest)

    def flush(self) -> None:
        """Embedded Qdrant Edge: write everything pending to disk (before a backup)."""
        if self.engine is Engine.EDGE:
            self._call("flush")

    def legacy_store(self) -> bool:
        """True when QDRANT_PATH still holds a store written by qdrant-client's local mode
        (before Qdrant Edge), which this version no longer reads."""
        return self.engine is Engine.EDGE and self._call("legacy_store")

    def remove_legacy_store(self) -> None:
        if self.engine is Engine.EDGE:
            self._call("remove_legacy_store")

    def mark_owner(self, *, syncs: bool = False, web: bool = False) -> None:
        """Tell other processes what this one, the embedded store's holder, does: delivers
        the change log (see sync_vectors), serves the web (see vectors/web_process.py)."""
        if self._store_lock is not None:
            self._store_lock.describe(syncs=syncs, web=web)

    def close(self) -> None:
        try:
            result = self._client.close()
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        except Exception:  # noqa: S110 - closing at exit must never raise
            pass
        if self._store_lock is not None:
            self._store_lock.release()  # only once the store is saved and closed


class GuardedAsyncClient(GuardedClient):
    """The same methods, awaitable: for async code (an async view or worker). Nothing in
    the project awaits it yet (every view and command is synchronous and uses the sync
    client); it is kept for code that serves similar products from an event loop, as the
    product's first plan asks. With a server it wraps
    AsyncQdrantClient; with an embedded store, which allows one client per path, it runs
    the shared sync client's calls in a worker thread."""

    def __init__(self, client: Any, config: QdrantConfig, sync: GuardedClient | None = None):
        super().__init__(client, config)
        self._sync = sync

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self._sync is not None:
            return asyncio.to_thread(self._sync._call, name, *args, **kwargs)
        return self._await(getattr(self._client, name), args, kwargs)

    async def _await(self, method: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        with translate_errors(self.config):
            return await method(*args, **kwargs)

    def close(self) -> None:
        if self._sync is None:  # the sync client owns an embedded store
            super().close()


def _server_options(config: QdrantConfig, timeout: float) -> dict[str, Any]:
    options: dict[str, Any] = {
        "api_key": config.api_key,
        "timeout": timeout,
        "prefer_grpc": config.prefer_grpc,
        "grpc_port": config.grpc_port,
        # The version handshake is a network call at construction: a plain `manage.py`
        # command must not wait on it.
        "check_compatibility": False,
    }
    if config.url:
        options["url"] = config.url
    else:
        options |= {"host": config.host, "port": config.port, "https": config.https}
    return options


def _command_line() -> str:
    """How this process was started, in short: `manage.py sync_vectors`, `gunicorn`, `python
    -m pytest` (a module run's argv[0] is its __main__.py, which names nothing). No more
    arguments than that: they can hold secrets."""
    original = sys.orig_argv
    if os.path.basename(sys.argv[0]) == "__main__.py" and "-m" in original[1:-1]:
        return f"python -m {original[original.index('-m') + 1]}"
    return " ".join(os.path.basename(arg) for arg in sys.argv[:2]) or "python"


class _StoreLock:
    """An exclusive lock on a whole embedded store (every shard and the alias file), taken
    before anything in it is opened. Edge locks each shard's WAL on its own; this one lock
    also covers the alias file and tells a second process which process holds the store:
    the holder writes its pid and command line into the lock file.
    """

    def __init__(self, path: str):
        os.makedirs(path, exist_ok=True)
        self._file = open(os.path.join(path, ".catalog-open.lock"), "a+")  # noqa: SIM115
        self._syncs = self._web = False

    def try_acquire(self) -> bool:
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._write()
        return True

    def describe(self, *, syncs: bool = False, web: bool = False) -> None:
        """Say what this holder does: `syncs`, it delivers the change log itself (a second
        sync_vectors need not wait for it); `web`, it is a web server (a second web process
        on the same store is a wrong deployment, see vectors/web_process.py)."""
        self._syncs, self._web = self._syncs or syncs, self._web or web
        self._write()

    def _write(self) -> None:
        about = {
            "pid": os.getpid(),
            "command": _command_line(),
            "syncs": self._syncs,
            "web": self._web,
        }
        with contextlib.suppress(OSError):
            self._file.seek(0)
            self._file.truncate()
            self._file.write(json.dumps(about))
            self._file.flush()

    def holder(self) -> dict[str, Any]:
        """What the process holding the lock wrote about itself ({} if unknown)."""
        with contextlib.suppress(OSError, ValueError):
            self._file.seek(0)
            found = json.loads(self._file.read() or "{}")
            if isinstance(found, dict) and alive(found.get("pid")):
                return found
        return {}  # unknown, or a previous holder's words read before the new one wrote

    def release(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            fcntl.flock(self._file, fcntl.LOCK_UN)
        self._file.close()


def _held_message(config: QdrantConfig, holder: dict[str, Any]) -> str:
    who = "another process"
    if holder.get("pid"):
        who = f"{holder.get('command') or 'a process'} (pid {holder['pid']})"
    return (
        f"{config.label} is in use by {who}: embedded Qdrant allows one process per path. "
        "Stop that process, or run a Qdrant server (docker compose up qdrant) and set "
        "QDRANT_URL so that several processes can share it."
    )


def _open_in_process(config: QdrantConfig, *, wait: float) -> tuple[Any, _StoreLock | None]:
    if config.engine is Engine.MEMORY:
        return QdrantClient(location=":memory:", force_disable_check_same_thread=True), None
    deadline = time.monotonic() + wait
    try:
        store_lock = _StoreLock(config.path)
    except OSError as exc:
        raise VectorStoreUnavailable(f"{config.label} cannot be opened: {exc}") from exc
    while not store_lock.try_acquire():
        holder = store_lock.holder()
        # A process that syncs is a long-lived owner (the web server): no use waiting.
        if holder.get("syncs") or time.monotonic() >= deadline:
            store_lock.release()
            raise StoreHeld(_held_message(config, holder), holder=holder)
        time.sleep(LOCK_RETRY_SECONDS)
    from vectors.edge import EdgeStore  # imports the engine only when it is used

    try:
        ensure_room_to_open(config)
        return EdgeStore(config), store_lock
    except VectorStoreError:
        store_lock.release()
        raise


def _quietly(factory: Callable[..., Any], **options: Any) -> Any:
    """Construct a client, turning its warnings (an API key over plain http, say) into one
    log line each instead of a warning with a source line under it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = factory(**options)
    for warning in caught:
        logger.warning("qdrant-client: %s", warning.message)
    return client


_lock = threading.Lock()
_clients: dict[str, Any] = {}


def get_qdrant_client(*, probe: bool = False) -> GuardedClient:
    """The shared client. `probe=True` gives one with QDRANT_CHECK_TIMEOUT, for system checks
    and health, so they answer quickly when a server is down (embedded mode has one store,
    so it is the same client)."""
    config = qdrant_config()
    key = "probe" if probe and config.engine is Engine.SERVER else "sync"
    with _lock:
        client = _clients.get(key)
        if client is None:
            if config.engine.in_process:
                wait = config.check_timeout if probe else config.timeout
                raw, store_lock = _open_in_process(config, wait=wait)
                client = _clients[key] = GuardedClient(raw, config, store_lock=store_lock)
            else:
                timeout = config.check_timeout if probe else config.timeout
                raw = _quietly(QdrantClient, **_server_options(config, timeout))
                client = _clients[key] = GuardedClient(raw, config)
        return client


def get_async_qdrant_client() -> GuardedAsyncClient:
    """The shared async client (see GuardedAsyncClient). Meant for one event loop."""
    config = qdrant_config()
    if config.engine.in_process:
        return GuardedAsyncClient(None, config, sync=get_qdrant_client())
    with _lock:
        client = _clients.get("async")
        if client is None:
            raw = _quietly(AsyncQdrantClient, **_server_options(config, config.timeout))
            client = _clients["async"] = GuardedAsyncClient(raw, config)
        return client


def reset_qdrant_clients() -> None:
    """Close and forget every client (at exit, and when the QDRANT setting changes: both
    hooked up in VectorsConfig.ready())."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()
