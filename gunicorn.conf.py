"""gunicorn's settings for the catalog (gunicorn reads ./gunicorn.conf.py by itself):
`gunicorn config.wsgi` is the production server, as the README's deployment section says.

One worker process with threads: an embedded Qdrant store (no QDRANT_URL) can be open in
one process only, and the threads share it and the process's PostgreSQL pool. With a Qdrant
server, WEB_CONCURRENCY (or --workers) may run more processes; with an embedded store the
master refuses to start them, in one line.
"""

import os
import sys

wsgi_app = "config.wsgi"
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
# gthread, measuring how long each request waited for a thread (config/gunicorn_worker.py).
worker_class = "config.gunicorn_worker.QueueTimingThreadWorker"
# Threads share one interpreter, so more than a few only queue on its lock; the database
# pool (DATABASE_POOL_MAX_SIZE) must hold these plus the sync loop's two connections.
threads = int(os.environ.get("WEB_THREADS", "8"))
# workers: gunicorn's default, WEB_CONCURRENCY or 1.
accesslog = "-"
# gunicornc's control socket (one path per user, shared by every instance): not used here.
control_socket_disable = True


def on_starting(server):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured

    from vectors.web_process import WrongProcessModel, refuse_several_workers

    try:
        refuse_several_workers(server.cfg.workers)
    except (WrongProcessModel, ImproperlyConfigured) as exc:
        sys.stderr.write(f"Refusing to start: {exc}\n")
        sys.exit(1)


def child_exit(server, worker):
    # prometheus_client's multiprocess mode (several workers, with a Qdrant server): a
    # worker's live gauges go with it (vectors/metrics.py).
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
