"""GET /healthz: is every dependency the catalog needs up? 200 if so, 503 if not.

One small backend per dependency, as django-health-check does it. Usable as a container
healthcheck; it names no secrets.
"""

from typing import Any

import psycopg
from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.errors import first_line
from vectors.health import disk_status, qdrant_status, sync_status


def _sync_status(points: int) -> dict[str, Any]:
    try:
        return sync_status(points)
    except DatabaseError as exc:  # PostgreSQL went away since its check
        return {"ok": False, "error": first_line(exc)}


# How long a probe waits for a pooled connection: a load balancer's probe gives up after a few
# seconds, and the pool's own wait (DATABASE_POOL_TIMEOUT, 5 s) would outlast it while
# PostgreSQL is down.
POOL_WAIT = 1.5


def postgresql_status() -> dict[str, Any]:
    try:
        if connection.pool is not None and connection.connection is None:
            with connection.pool.connection(timeout=POOL_WAIT) as pooled:
                pooled.execute("SELECT 1")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
    except (DatabaseError, psycopg.Error) as exc:
        return {"ok": False, "error": _why_no_connection(exc)}
    return {"ok": True}


def _why_no_connection(exc: Exception) -> str:
    """The connection pool only says it waited in vain; one connection of our own says why
    (the server refusing, a wrong password)."""
    if connection.pool is None:
        return first_line(exc)
    try:
        psycopg.connect(**connection.get_connection_params()).close()
    except psycopg.Error as cause:
        return first_line(cause)
    return first_line(exc)


@never_cache
@require_safe
def healthz(request):
    """503 "unavailable" when search would not work; 200 "degraded" when it works but
    answers from a store that is behind or incomplete (the sync lags, points are missing)
    or that product changes cannot reach (an embedded store's disk is low): taking a web
    process out of a load balancer's rotation would not help; else 200 "ok"."""
    checks = {"postgresql": postgresql_status(), "qdrant": qdrant_status()}
    healthy = all(check["ok"] for check in checks.values())
    if healthy:
        checks["sync"] = _sync_status(checks["qdrant"]["points"])
    if (disk := disk_status()) is not None:
        checks["disk"] = disk
    degraded = any(not checks[name]["ok"] for name in ("sync", "disk") if name in checks)
    status = "unavailable" if not healthy else "degraded" if degraded else "ok"
    return JsonResponse({"status": status, **checks}, status=200 if healthy else 503)
