"""The shop-front API under /api/, on django-ninja: request and answer schemas, the OpenAPI
document at /api/openapi.json (and its page at /api/docs), JSON errors for every status,
and a per-client rate limit on the search endpoints (API_RATE_LIMIT, counted in the cache
every web process shares).

Thin: each operation validates, calls a selector (vectors/search.py) and maps the expected
failures to a status; config/api_errors.py turns what Django answers itself into JSON too.
"""

from __future__ import annotations

import logging
import math
import threading
from uuid import UUID

from django.conf import settings
from django.db import OperationalError
from django.http import HttpResponse
from ninja import NinjaAPI, Query
from ninja.errors import HttpError, ValidationError
from ninja.throttling import AnonRateThrottle, BaseThrottle
from pydantic import ValidationError as PydanticError

from catalog.exchange_rates import rates_for_range
from catalog.models import Product
from catalog.money import price_text
from config.errors import first_line
from vectors.api_image import (
    MAX_IMAGE_BYTES,
    ImageRequestRefused,
    image_request_body,
    read_image_request,
)
from vectors.api_schemas import (
    ApiError,
    Filters,
    InvalidParameters,
    RecommendQuery,
    SearchAnswer,
    SimilarAnswer,
    SimilarFilters,
    WordsQuery,
)
from vectors.exceptions import ModelBusy, ProductNotIndexed, QueryNotSupported, VectorStoreError

logger = logging.getLogger(__name__)


class PerClientLimit(BaseThrottle):
    """django-ninja's AnonRateThrottle (per client address, in the shared cache) at the rate
    API_RATE_LIMIT says now. A fresh one per request: ninja keeps one throttle object per
    route, and its rate throttles keep the request being checked on themselves, which the
    threads of one web process would share."""

    def __init__(self) -> None:
        self._current = threading.local()

    def allow_request(self, request) -> bool:
        rate = settings.API_RATE_LIMIT
        self._current.throttle = AnonRateThrottle(rate) if rate else None
        return self._current.throttle is None or self._current.throttle.allow_request(request)

    def wait(self) -> float | None:
        throttle = getattr(self._current, "throttle", None)
        return throttle.wait() if throttle is not None else None


api = NinjaAPI(
    title="Fashion catalog",
    version="1",
    description="Products that look like a product, across shops.",
    urls_namespace="api",
)


# Parts of an error's location that are where it was, not which parameter: the request's
# part, and the operations' schema argument names.
WHERE = {"query", "body", "form", "file", "filters"}


@api.exception_handler(ValidationError)
def invalid_parameters(request, exc: ValidationError):
    """400 (not ninja's 422), naming each offending parameter."""
    fields: dict[str, list[dict[str, str]]] = {}
    for error in exc.errors:
        # ("query", "limit") for a parameter; ("query", "filters") for a rule across them.
        location = [part for part in error.get("loc", ()) if part not in WHERE]
        name = str(location[-1]) if location else "__all__"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        fields.setdefault(name, []).append({"message": message, "code": error.get("type", "")})
    return api.create_response(
        request, {"error": "invalid parameters", "fields": fields}, status=400
    )


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    """ninja's own refusals (429 Too many requests, a body it cannot parse) in our shape."""
    return _error(request, exc.status_code, str(exc))


def _error(request, status: int, message: str):
    return api.create_response(request, {"error": message}, status=status)


RESPONSES = {400: InvalidParameters, 404: ApiError, 409: ApiError, 429: ApiError, 503: ApiError}


@api.get(
    "/products/{product_id}/similar",
    response={200: SimilarAnswer, **RESPONSES},
    exclude_none=True,
    throttle=[PerClientLimit()],
    url_name="similar-products",
    summary="Products that look like this one",
)
def similar(request, product_id: str, filters: Query[SimilarFilters]):
    # Imported here: search brings qdrant_client, which requests that never search (the
    # OpenAPI page, a 404) should not pay for.
    from vectors.metrics import SEARCH_SECONDS
    from vectors.search import similar_to

    with SEARCH_SECONDS.time():
        try:
            pk = UUID(product_id)
        except ValueError:
            return _error(request, 404, "no such product")
        try:
            rates = rates_for_range(filters.price_min, filters.price_max)
            results = similar_to(pk, search_filters(filters, rates))
        except Product.DoesNotExist:
            return _error(request, 404, "no such product")
        except ProductNotIndexed as exc:
            return _error(request, 409, str(exc))
        except VectorStoreError as exc:
            # Qdrant down or its collection missing: the details are for the logs.
            logger.warning("similar products for %s failed: %s", pk, first_line(exc))
            return _error(request, 503, "similar products are unavailable right now")
        except OperationalError as exc:
            # PostgreSQL down, or every pooled connection busy for DATABASE_POOL_TIMEOUT.
            logger.warning("similar products for %s: PostgreSQL: %s", pk, first_line(exc))
            return _error(request, 503, "similar products are unavailable right now")
        return _answer(results, rates)


@api.get(
    "/search",
    response={200: SearchAnswer, **RESPONSES},
    exclude_none=True,
    throttle=[PerClientLimit()],
    url_name="search-words",
    summary="Products that match a shopper's words",
)
def search_words(request, response: HttpResponse, query: Query[WordsQuery]):
    from vectors.query import search_by_words

    search = lambda filters: search_by_words(query.q, filters)  # noqa: E731
    return _query_search(request, response, "q", search, query)


@api.post(
    "/search/image",
    response={200: SearchAnswer, 413: ApiError, **RESPONSES},
    exclude_none=True,
    throttle=[PerClientLimit()],
    url_name="search-image",
    summary="Products that look like a shopper's photo",
    description=(
        "Send the photo as multipart/form-data (field `image`, at most "
        f"{MAX_IMAGE_BYTES // 2**20} MB, with the filters as form fields or in the query "
        "string), or JSON with an `image_url` we fetch (public addresses only) and the "
        "filters. The photo is never stored or logged."
    ),
    openapi_extra={"requestBody": image_request_body()},
)
def search_image(request, response: HttpResponse):
    from vectors.query import search_by_image, search_by_image_url

    try:
        upload = read_image_request(request)
    except ImageRequestRefused as refused:
        return _error(request, refused.status, str(refused))
    except PydanticError as exc:
        return invalid_parameters(request, ValidationError(exc.errors()))
    if upload.data is not None:
        field, search = "image", lambda filters: search_by_image(upload.data, filters)
    else:
        field, search = "image_url", lambda f: search_by_image_url(upload.query.image_url, f)
    return _query_search(request, response, field, search, upload.query)


@api.post(
    "/recommend",
    response={200: SimilarAnswer, **RESPONSES},
    exclude_none=True,
    throttle=[PerClientLimit()],
    url_name="recommend",
    summary="More like these products (and unlike those)",
)
def recommend(request, query: RecommendQuery):
    from vectors.metrics import SEARCH_SECONDS
    from vectors.recommend import ExamplesNotFound, recommend_products

    with SEARCH_SECONDS.time():
        try:
            rates = rates_for_range(query.price_min, query.price_max)
            results = recommend_products(
                query.positive,
                query.negative,
                search_filters(query, rates),
                strategy=query.strategy,
            )
        except ExamplesNotFound as exc:
            named = set(exc.unknown) | set(exc.unsynced)
            fields = {
                side: [{"message": str(exc), "code": "not_found"}]
                for side, ids in (("positive", query.positive), ("negative", query.negative))
                if named & set(ids)
            }
            return api.create_response(
                request, {"error": "invalid parameters", "fields": fields}, status=400
            )
        except (VectorStoreError, OperationalError) as exc:
            logger.warning("recommendations failed: %s", first_line(exc))
            return _error(request, 503, "recommendations are unavailable right now")
        return _answer(results, rates)


def search_filters(query: Filters, rates):
    """The selectors' filters from a request's (vectors/search.py)."""
    from vectors.search import SearchFilters

    return SearchFilters(
        limit=query.limit,
        store_id=query.store_id or None,
        price_min=query.price_min,
        price_max=query.price_max,
        currency=query.currency,
        rates=rates,
        collapse=query.collapse == "group",
        per_store=query.per_store,
        diversity=query.diversity,
    )


def _query_search(request, response: HttpResponse, field: str, search, query: Filters):
    """Runs a query search (words, a photo) with the query's filters, mapping its expected
    failures: what is wrong with the query to a 400 naming `field`, an embedder that cannot
    take it to 409, a busy model to 503 with Retry-After, Qdrant or PostgreSQL down to 503."""
    from vectors.metrics import SEARCH_SECONDS

    with SEARCH_SECONDS.time():
        try:
            rates = rates_for_range(query.price_min, query.price_max)
            found = search(search_filters(query, rates))
        except ValueError as exc:  # words with nothing to search for, a broken photo
            fields = {field: [{"message": str(exc), "code": "invalid"}]}
            return api.create_response(
                request, {"error": "invalid parameters", "fields": fields}, status=400
            )
        except QueryNotSupported as exc:
            return _error(request, 409, str(exc))
        except ModelBusy as exc:
            logger.warning("query search refused: %s", exc)
            busy = _error(request, 503, "search is busy right now; try again shortly")
            busy["Retry-After"] = str(max(1, math.ceil(settings.VECTORS_QUERY_WAIT)))
            return busy
        except (VectorStoreError, OperationalError) as exc:
            logger.warning("query search failed: %s", first_line(exc))
            return _error(request, 503, "search is unavailable right now")
        # What the whole request's time went to, for whoever tunes the model's slots.
        response["Server-Timing"] = (
            f"queue;dur={found.wait_seconds * 1000:.1f}, model;dur={found.model_seconds * 1000:.1f}"
        )
        answer = _answer(found.results, rates)
        if found.truncated:
            answer["truncated"] = True
        return answer


def _answer(results, rates) -> dict:
    answer = {"results": [_shown(item) for item in results]}
    if rates is not None:
        answer["exchange_rates"] = {"date": rates.rate_date.isoformat(), "source": rates.source}
    return answer


def _shown(item) -> dict:
    shown = {
        "id": item.id,
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
    if item.offers:
        shown["offers"] = [
            {
                "id": offer.id,
                "store_id": offer.store_id,
                "price": price_text(offer.price, offer.currency),
                "currency": offer.currency,
                "product_url": offer.product_url,
            }
            for offer in item.offers
        ]
        shown["offers_total"] = item.offers_total
    return shown
