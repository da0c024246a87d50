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

from django.db import DatabaseError, close_old_connections, connection

from config.errors import first_line

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 2.0

_started = threading.Lock()
_thread: threading.Thread | None = None
stop = threading.Event()


def start_embedded_sync() -> threading.Thread | None:
    """Start the loop once per process, if Qdrant is embedded (Qdrant Edge on a path).
    Called by vectors/web_process.py (from config/wsgi.py and config/asgi.py); a bad setting
    is left for the system checks to report."""
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
    from vectors.client import get_qdrant_client
    from vectors.conf import qdrant_config
    from vectors.drain import DrainLoop
    from vectors.duplicates import check_queued_duplicates
    from vectors.embedders import get_embedder
    from vectors.exceptions import StoreHeld, VectorStoreError
    from vectors.sync import sync_pending

    marked = None  # the client whose lock file says that this process syncs
    last_error = None

    def round_() -> None:
        nonlocal marked, last_error
        close_old_connections()
        try:
            client, config = get_qdrant_client(), qdrant_config()
            if client is not marked:
                client.mark_owner(syncs=True)
                marked = client
            report = sync_pending(
                client=client, config=config, embedder=get_embedder(), should_stop=stop.is_set
            )
            if report.products:
                logger.info("embedded sync: %s", report.summary())
            # Beside the sync, a bounded share each round: searches share the store.
            grouped = check_queued_duplicates(
                client=client, config=config, batch_size=64, max_batches=1
            )
            if grouped.checked:
                logger.info("embedded sync: %s", grouped.summary())
            last_error = None
        finally:
            connection.close()

    def paused(exc: BaseException, pause: float) -> None:
        # A sync_vectors holding the store for a moment, PostgreSQL restarting: one line
        # when the reason changes. Anything else is a bug in one round: logged whole.
        nonlocal last_error
        if not isinstance(exc, VectorStoreError | DatabaseError):
            logger.error("embedded sync failed; trying again", exc_info=exc)
            return
        reason = first_line(exc)
        if reason != last_error:
            level = logging.INFO if isinstance(exc, StoreHeld) else logging.WARNING
            logger.log(level, "embedded sync paused: %s", reason)
            last_error = reason

    DrainLoop(
        round=round_,
        interval=INTERVAL_SECONDS,
        should_stop=stop.is_set,
        wait=stop.wait,
        on_pause=paused,
        survive=(Exception,),
    ).run()
