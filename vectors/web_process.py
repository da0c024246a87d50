"""Getting a web process ready to serve: config/wsgi.py and config/asgi.py call
`start_web_process()` once, before the first request.

An embedded store (Qdrant Edge on QDRANT_PATH) can be open in one process only. A web
server with several worker processes would have one of them own the store and every other
answer 503 to each search, while their health looked fine. So the wrong process model is
refused at start, in one line: gunicorn's master refuses `--workers` above 1
(gunicorn.conf.py calls `refuse_several_workers`), and a web process that finds the store
held by another web process exits (any other server, such as `uvicorn --workers`). The one
web process then owns the store, delivers the change log (vectors/background.py), and warms
what its first requests would otherwise wait for: the database pool, the store's shard, the
search code.
"""

from __future__ import annotations

import logging
import os
import sys

from config.errors import first_line

logger = logging.getLogger(__name__)

# What a web process exits with when it must not serve: gunicorn's master stops the whole
# server on it ("App failed to load"), and Django's autoreloader passes it on.
REFUSED_EXIT_CODE = 4


class WrongProcessModel(Exception):
    """Several web processes were asked to serve one embedded store."""


ONE_PROCESS_FIX = (
    "run one worker with threads (gunicorn config.wsgi, as gunicorn.conf.py sets it up), or "
    "set QDRANT_URL to a Qdrant server to run several."
)


def _embedded_config():
    from django.core.exceptions import ImproperlyConfigured

    from vectors.conf import qdrant_config

    try:
        config = qdrant_config()
    except ImproperlyConfigured:
        return None  # the system checks report bad settings
    return config if config.engine == "edge" else None


def refuse_several_workers(workers: int) -> None:
    """Raise WrongProcessModel when `workers` processes would share an embedded store."""
    config = _embedded_config()
    if config is not None and workers > 1:
        raise WrongProcessModel(
            f"{workers} worker processes asked for {config.label}, which one web process "
            f"only can serve: {ONE_PROCESS_FIX}"
        )


def start_web_process() -> None:
    """Own the embedded store (or exit at once if another web process does), warm up, and
    start the embedded sync loop. Expected failures (Qdrant or PostgreSQL down) are logged
    in one line each and leave the process serving: health and search say what is wrong."""
    try:
        _own_embedded_store()
    except WrongProcessModel as exc:
        # One line and out, whatever runs us: gunicorn, uvicorn, runserver's autoreloader
        # (which runs the app in a thread, where SystemExit would end only that thread).
        sys.stderr.write(f"Refusing to serve: {exc}\n")
        sys.stderr.flush()
        os._exit(REFUSED_EXIT_CODE)
    _warm_up()
    from vectors.background import start_embedded_sync

    start_embedded_sync()


def _own_embedded_store() -> None:
    from vectors.client import get_qdrant_client
    from vectors.exceptions import StoreHeld, VectorStoreError

    config = _embedded_config()
    if config is None:
        return
    try:
        client = get_qdrant_client()
    except StoreHeld as exc:
        if exc.holder.get("web"):
            raise WrongProcessModel(
                f"{exc.holder.get('command') or 'another web server'} "
                f"(pid {exc.holder.get('pid')}) serves {config.label} already, and one web "
                f"process only can serve it: {ONE_PROCESS_FIX}"
            ) from exc
        logger.warning("%s Searches answer 503 until it is free.", first_line(exc))
        return
    except VectorStoreError as exc:
        logger.warning("The vector store cannot be opened: %s", first_line(exc))
        return
    client.mark_owner(syncs=True, web=True)


def _warm_up() -> None:
    """What the first requests would each wait for: the database pool's connections, the
    URLconf and the search modules, and the collection (an embedded shard is loaded from
    disk on first use)."""
    from django.db import DatabaseError, connection
    from django.urls import get_resolver

    import vectors.search  # noqa: F401 - imported for its import time
    from vectors.client import get_qdrant_client
    from vectors.conf import qdrant_config
    from vectors.exceptions import VectorStoreError

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    try:
        connection.ensure_connection()
    except DatabaseError as exc:
        logger.warning("PostgreSQL is not available yet: %s", first_line(exc))
    finally:
        connection.close()  # back to the pool, for the request threads
    try:
        config = qdrant_config()
        get_qdrant_client().count(config.collection, exact=False)
    except VectorStoreError as exc:
        logger.warning("Qdrant is not available yet: %s", first_line(exc))
    except Exception as exc:  # a bad setting: the system checks report it
        logger.warning("Qdrant is not configured: %s", first_line(exc))
