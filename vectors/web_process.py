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

import gc
import io
import logging
import os
import sys
import time

from config.errors import first_line
from config.processes import parent_of

logger = logging.getLogger(__name__)

# What a web process exits with when it must not serve: gunicorn's master stops the whole
# server on it ("App failed to load"), and Django's autoreloader passes it on.
REFUSED_EXIT_CODE = 4

# How long a new web process waits for a sibling worker that is being replaced to let go of
# the store: under gunicorn's worker timeout (30 s), which counts from the worker's start.
SIBLING_WAIT_SECONDS = 25
SIBLING_POLL_SECONDS = 0.5
# How long a start reads the store's files ahead before serving (the rest is read while
# it serves): well under gunicorn's worker timeout, which counts the app's loading.
READ_AHEAD_SECONDS = 10
# Set by gunicorn's master once it has checked that it runs one worker (internal, inherited
# by its workers): a sibling holding the store can then only be a worker being replaced.
ONE_WORKER_MARK = "_CATALOG_ONE_WEB_WORKER"


class WrongProcessModel(Exception):
    """Several web processes were asked to serve one embedded store."""


ONE_PROCESS_FIX = (
    "run one worker with threads (gunicorn config.wsgi, as gunicorn.conf.py sets it up), or "
    "set QDRANT_URL to a Qdrant server to run several."
)


def _embedded_config():
    from django.core.exceptions import ImproperlyConfigured

    from vectors.conf import Engine, qdrant_config

    try:
        config = qdrant_config()
    except ImproperlyConfigured:
        return None  # the system checks report bad settings
    return config if config.engine is Engine.EDGE else None


def refuse_several_workers(workers: int) -> None:
    """Raise WrongProcessModel when `workers` processes would share an embedded store; else
    mark the environment for the workers (see _is_a_sibling). Run by gunicorn's master.
    Raises ImproperlyConfigured when the settings cannot load (a missing secret key), so
    that the master says so in one line instead of every worker in a traceback."""
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - loads the settings module
    config = _embedded_config()
    if config is not None and workers > 1:
        raise WrongProcessModel(
            f"{workers} worker processes asked for {config.label}, which one web process "
            f"only can serve: {ONE_PROCESS_FIX}"
        )
    if config is not None:
        os.environ[ONE_WORKER_MARK] = "1"


def start_web_process(application=None) -> None:
    """Own the embedded store (or exit at once if another web process does), warm up (with
    one request through `application`, the WSGI handler, when given), and start the
    embedded sync loop. Expected failures (Qdrant or PostgreSQL down) are logged
    in one line each and leave the process serving: health and search say what is wrong."""
    try:
        _own_embedded_store()
    except WrongProcessModel as exc:
        # One line and out, whatever runs us: gunicorn, uvicorn, runserver's autoreloader
        # (which runs the app in a thread, where SystemExit would end only that thread).
        sys.stderr.write(f"Refusing to serve: {exc}\n")
        sys.stderr.flush()
        os._exit(REFUSED_EXIT_CODE)
    _warm_up(application)
    # What start-up loaded (Django, the URLconf's modules, CLDR's currency data, the API's
    # schemas) stays for the process's life: moved out of the collector's sight, so that its
    # full collections, a few seconds into serving, no longer walk it all while a request
    # waits (bench/RESULTS.md).
    gc.freeze()
    from vectors.background import start_embedded_sync

    start_embedded_sync()


def _own_embedded_store() -> None:
    from vectors.client import get_qdrant_client
    from vectors.exceptions import StoreHeld, VectorStoreError

    config = _embedded_config()
    if config is None:
        return
    deadline = time.monotonic() + SIBLING_WAIT_SECONDS
    while True:
        try:
            client = get_qdrant_client()
            break
        except StoreHeld as exc:
            if not exc.holder.get("web"):
                logger.warning("%s Searches answer 503 until it is free.", first_line(exc))
                return
            if _is_a_sibling(exc.holder.get("pid")) and time.monotonic() < deadline:
                time.sleep(SIBLING_POLL_SECONDS)  # being replaced: it lets go as it exits
                continue
            raise WrongProcessModel(
                f"{exc.holder.get('command') or 'another web server'} "
                f"(pid {exc.holder.get('pid')}) serves {config.label} already, and one web "
                f"process only can serve it: {ONE_PROCESS_FIX}"
            ) from exc
        except VectorStoreError as exc:
            logger.warning("The vector store cannot be opened: %s", first_line(exc))
            return
    client.mark_owner(syncs=True, web=True)


def _is_a_sibling(pid) -> bool:
    """Is `pid` another worker of this process's one-worker gunicorn master? Reloading (HUP)
    or replacing a worker, the master starts the new worker while the old one still holds
    the store: the new one waits for it rather than refusing. Several workers of any other
    server, or a second server started by hand, are still refused at once."""
    parent = os.getppid()
    return (
        os.environ.get(ONE_WORKER_MARK) == "1"
        and isinstance(pid, int)
        and parent > 1
        and parent_of(pid) == parent
    )


def _warm_up(application) -> None:
    """What the first requests would each wait for: the URLconf and the views' modules, the
    database pool's connections, and one similar-products search (an embedded shard is
    loaded from disk on first use, and the first walk of its graph pages it in);
    bench/serve.py measures the first requests after a start against later ones."""
    from django.db import DatabaseError, connection
    from django.urls import get_resolver, reverse

    from vectors.client import get_qdrant_client
    from vectors.conf import qdrant_config
    from vectors.exceptions import VectorStoreError
    from vectors.search import similar_products

    get_resolver().url_patterns  # noqa: B018 - imports every view module
    try:
        config = qdrant_config()
        client = get_qdrant_client()
        client.read_ahead(config.collection, seconds=READ_AHEAD_SECONDS)
        points, _ = client.scroll(config.collection, limit=1, with_payload=False)
        if points and application is not None:
            _ask(application, reverse("api:similar-products", args=[points[0].id]))
        elif points:
            similar_products(points[0].id, config=config)
    except VectorStoreError as exc:
        logger.warning("Qdrant is not available yet: %s", first_line(exc))
    except DatabaseError as exc:
        logger.warning("PostgreSQL is not available yet: %s", first_line(exc))
    except Exception as exc:  # a bad setting (the system checks report it), a deleted product
        logger.warning("Warming up the similar-products search failed: %s", first_line(exc))
    finally:
        connection.close()  # back to the pool, for the request threads


def _ask(application, path: str) -> None:
    """One GET through the whole WSGI handler (middleware, URL resolving, the view, JSON),
    in this process: what a shop front's first request would otherwise pay for."""
    from django.conf import settings

    host = next((name.lstrip(".") for name in settings.ALLOWED_HOSTS if name != "*"), "localhost")
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": host,
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": host,
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",  # not redirected where HTTPS is enforced
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    answer = application(environ, lambda status, headers, exc_info=None: None)
    try:
        for _ in answer:
            pass
    finally:
        getattr(answer, "close", lambda: None)()
