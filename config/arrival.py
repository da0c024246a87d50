"""How long the request being served waited for a thread before it was served, where the
server says: gunicorn's worker (config/gunicorn_worker.py) measures it from when the request
was handed to its thread pool to when a thread took it up. Elsewhere (runserver, the test
client) no request queues unseen, and it is 0."""

from __future__ import annotations

import threading
from contextlib import contextmanager

_current = threading.local()


@contextmanager
def queued_for(seconds: float):
    """Serve one request, in this thread, that waited `seconds` for it."""
    _current.seconds = max(0.0, seconds)
    try:
        yield
    finally:
        _current.seconds = 0.0


def queued_seconds() -> float:
    return getattr(_current, "seconds", 0.0)
