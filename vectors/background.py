"""The web process's own sync loop, in embedded mode.

An embedded store has one owner process. When that owner is the web server (`make run`:
runserver holds the store to show similar products), no `sync_vectors` can open the store
beside it, so the web process delivers the change log itself: a daemon thread runs
`sync_pending` every few seconds, so that a product edited in the admin reaches the
similar-products panel without a restart. It never builds the HNSW index (that blocks the
whole process for minutes); `sync_vectors` and `optimize_vectors` do, when the server is
stopped. With a Qdrant server, the worker (`sync_vectors --watch`) does all of this and the
loop is not started.
"""

from __future__ import annotations

import logging
import threading

from django.db import close_old_connections, connection

from config.errors import first_line

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 60.0

_started = threading.Lock()
_thread: threading.Thread | None = None
stop = threading.Event()


def start_embedded_sync() -> threading.Thread | None:
    """Start the loop once per process, if Qdrant is embedded (Qdrant Edge on a path).
    Called from config/wsgi.py; a bad setting is left for the system checks to report."""
    global _thread
    from django.core.exceptions import ImproperlyConfigured

    from vectors.conf import Engine, qdrant_config

    try:
        config = qdrant_config()
    except ImproperlyConfigured:
        return None
    if config.engine is not Engine.EDGE:
        return None
    with _started:
        if _thread is None or not _thread.is_alive():
            stop.clear()
            _thread = threading.Thread(target=_loop, name="embedded-sync", daemon=True)
            _thread.start()
    return _thread


def _loop() -> None:
    from django.db import DatabaseError

    from vectors.client import get_qdrant_client
    from vectors.conf import qdrant_config
    from vectors.duplicates import check_queued_duplicates
    from vectors.embedders import get_embedder
    from vectors.exceptions import StoreHeld, VectorStoreError
    from vectors.sync import sync_pending

    backoff = INTERVAL_SECONDS
    last_error = None
    marked = None  # the client whose lock file says that this process syncs
    while not stop.is_set():
        pause = INTERVAL_SECONDS
        try:
            close_old_connections()
            client, config = get_qdrant_client(), qdrant_config()
            if client is not marked:
                client.mark_owner(syncs=True)
                marked = client
            report = sync_pending(
                client=client,
                config=config,
                embedder=get_embedder(),
                should_stop=stop.is_set,
            )
            if report.products:
                logger.info("embedded sync: %s", report.summary())
            # Beside the sync, a bounded share each round: searches share the store.
            grouped = check_queued_duplicates(
                client=client, config=config, batch_size=64, max_batches=1
            )
            if grouped.checked:
                logger.info("embedded sync: %s", grouped.summary())
            backoff, last_error = INTERVAL_SECONDS, None
        except (VectorStoreError, DatabaseError) as exc:
            # A sync_vectors holding the store for a moment, PostgreSQL restarting: one line
            # when the reason changes, then a growing pause.
            reason = first_line(exc)
            if reason != last_error:
                level = logging.INFO if isinstance(exc, StoreHeld) else logging.WARNING
                logger.log(level, "embedded sync paused: %s", reason)
                last_error = reason
            pause = backoff
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
        except Exception:
            logger.exception("embedded sync failed; trying again")
            pause = backoff
            backoff = min(MAX_BACKOFF_SECONDS, backoff * 2)
        finally:
            connection.close()
        stop.wait(pause)
