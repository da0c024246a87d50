"""gunicorn's threaded worker (gthread), measuring how long each request waited for a thread
(config/arrival.py).

gthread queues a request for its thread pool when its connection becomes readable; with every
thread busy it waits there, unseen by the application. The model slots' limit
(VECTORS_QUERY_WAIT, vectors/query.py) counts that wait too, so that no search waits longer
than the limit in all, and Server-Timing reports the whole queue a burst builds.
"""

from __future__ import annotations

import time

from gunicorn.workers.gthread import ThreadWorker

from config.arrival import queued_for


class QueueTimingThreadWorker(ThreadWorker):
    def enqueue_req(self, conn):
        conn.catalog_enqueued_at = time.monotonic()
        super().enqueue_req(conn)

    def handle(self, conn):
        # A thread took the connection up: what it waited until now is the pool's queue
        # (reading the request comes after, and is not waiting).
        enqueued = getattr(conn, "catalog_enqueued_at", None)
        conn.catalog_queued = time.monotonic() - enqueued if enqueued is not None else 0.0
        return super().handle(conn)

    def handle_request(self, req, conn):
        with queued_for(getattr(conn, "catalog_queued", 0.0)):
            return super().handle_request(req, conn)
