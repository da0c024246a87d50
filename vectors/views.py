"""GET /metrics for Prometheus (the shop-front API is vectors/api.py)."""

import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@require_safe
def metrics(request):
    """Prometheus' text format, for METRICS_TOKEN (Authorization: Bearer) or a client in
    METRICS_ALLOWED_IPS (the connection's own address: a forwarded header could be forged);
    404 when neither is set, so that it is never public by default."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS
    if not token and not networks:
        return _error(404, "not found")
    from vectors.metrics import allowed, exposition

    if not allowed(
        authorization=request.headers.get("Authorization", ""),
        address=request.META.get("REMOTE_ADDR", ""),
        token=token,
        networks=networks,
    ):
        return _error(403, "a bearer token or an allowed address is needed")
    body, content_type = exposition()
    return HttpResponse(body, content_type=content_type)
