"""GET /api/products/<uuid>/similar — JSON for the shop front; GET /metrics for Prometheus."""

import logging

from django import forms
from django.conf import settings
from django.db import OperationalError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from catalog.exchange_rates import latest_rates
from catalog.models import Product
from catalog.money import price_text
from config.errors import first_line
from vectors.exceptions import ProductNotIndexed, VectorStoreError

logger = logging.getLogger(__name__)


class SimilarQuery(forms.Form):
    limit = forms.IntegerField(min_value=1, max_value=100, required=False)
    store_id = forms.CharField(max_length=100, required=False)
    price_min = forms.DecimalField(min_value=0, max_digits=10, decimal_places=2, required=False)
    price_max = forms.DecimalField(min_value=0, max_digits=10, decimal_places=2, required=False)
    # The currency of price_min/price_max (ISO 4217); the product's own by default.
    currency = forms.RegexField(regex=r"^[A-Z]{3}$", required=False)

    def clean(self):
        data = super().clean()
        low, high = data.get("price_min"), data.get("price_max")
        if low is not None and high is not None and low > high:
            raise forms.ValidationError("price_min must not be above price_max.")
        return data


def _error(status: int, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@require_safe
def similar(request, product_id):
    # Imported here: the URLconf imports this module for every request, and search brings
    # qdrant_client, which requests that never search should not pay for.
    from vectors.metrics import SEARCH_SECONDS

    with SEARCH_SECONDS.time():
        return _similar(request, product_id)


def _similar(request, product_id):
    from vectors.search import similar_products

    query = SimilarQuery(request.GET)
    if not query.is_valid():
        return _error(400, "invalid parameters", fields=query.errors.get_json_data())
    params = query.cleaned_data
    price_filtered = params["price_min"] is not None or params["price_max"] is not None
    try:
        rates = latest_rates() if price_filtered and settings.PRICE_CONVERSION else None
        results = similar_products(
            product_id,
            limit=params["limit"] or 10,
            store_id=params["store_id"] or None,
            price_min=params["price_min"],
            price_max=params["price_max"],
            currency=params["currency"] or None,
            rates=rates,
        )
    except Product.DoesNotExist:
        return _error(404, "no such product")
    except ProductNotIndexed as exc:
        return _error(409, str(exc))
    except VectorStoreError as exc:
        # Qdrant down or its collection missing: the details are for the logs, not shoppers.
        logger.warning("similar products for %s failed: %s", product_id, first_line(exc))
        return _error(503, "similar products are unavailable right now")
    except OperationalError as exc:
        # PostgreSQL down, or every pooled connection busy for DATABASE_POOL_TIMEOUT.
        logger.warning("similar products for %s: PostgreSQL: %s", product_id, first_line(exc))
        return _error(503, "similar products are unavailable right now")
    answer: dict = {"results": [_shown(item) for item in results]}
    if rates is not None:
        answer["exchange_rates"] = {"date": rates.rate_date.isoformat(), "source": rates.source}
    return JsonResponse(answer)


def _shown(item) -> dict:
    shown = {
        "id": str(item.id),
        "title": item.title,
        "price": price_text(item.price, item.currency),
        "currency": item.currency,
        "image_url": item.image_url,
        "product_url": item.product_url,
        "score": round(item.score, 6),
    }
    if item.converted_price is not None:
        shown["converted_price"] = {
            "price": price_text(item.converted_price, item.converted_currency),
            "currency": item.converted_currency,
        }
    return shown


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
