"""GET /healthz: is every dependency the catalog needs up? 200 if so, 503 if not.

One small backend per dependency, as django-health-check does it. Usable as a container
healthcheck; it names no secrets.
"""

from typing import Any

from django.db import DatabaseError, connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from config.errors import first_line
from vectors.health import qdrant_status


def postgresql_status() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return {"ok": False, "error": first_line(exc)}
    return {"ok": True}


@never_cache
@require_safe
def healthz(request):
    checks = {"postgresql": postgresql_status(), "qdrant": qdrant_status()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks},
        status=200 if healthy else 503,
    )
