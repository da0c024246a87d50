"""The shop-front API under /api/, on django-ninja: request and answer schemas, the OpenAPI
document at /api/openapi.json (and its page at /api/docs), JSON errors for every status,
and a per-client rate limit on the search endpoints (API_RATE_LIMIT, counted in the cache
every web process shares).

Thin: each operation validates, calls a selector (vectors/search.py) and maps the expected
failures to a status; config/api_errors.py turns what Django answers itself into JSON too.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from uuid import UUID

from django.conf import settings
from django.db import OperationalError
from ninja import Field, NinjaAPI, Query, Schema
from ninja.errors import HttpError, ValidationError
from ninja.throttling import AnonRateThrottle, BaseThrottle
from pydantic import model_validator

from catalog.exchange_rates import latest_rates
from catalog.models import Product
from catalog.money import price_text
from config.errors import first_line
from vectors.exceptions import ProductNotIndexed, QueryNotSupported, VectorStoreError

logger = logging.getLogger(__name__)

# Longer words are refused before any model sees them (the model takes 64 tokens of them).
MAX_QUERY_CHARACTERS = 1000


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


class ApiError(Schema):
    error: str


class InvalidParameters(ApiError):
    fields: dict[str, list[dict[str, str]]]


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


class Filters(Schema):
    limit: int = Field(10, ge=1, le=100, description="How many products (1-100).")
    store_id: str | None = Field(None, max_length=100, description="Only this store's.")
    price_min: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2)
    price_max: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2)
    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="The currency of price_min/price_max (ISO 4217); the product's own by "
        "default. With PRICE_CONVERSION on, prices in other currencies are converted.",
    )

    @model_validator(mode="after")
    def _range_in_order(self):
        if None not in (self.price_min, self.price_max) and self.price_min > self.price_max:
            raise ValueError("price_min must not be above price_max.")
        return self


class ConvertedPrice(Schema):
    price: str
    currency: str


class ShownProduct(Schema):
    id: UUID
    title: str
    price: str = Field(description="With the currency's minor units: 12000 JPY, 19.90 USD.")
    currency: str
    image_url: str
    product_url: str
    score: float
    converted_price: ConvertedPrice | None = None


class RatesUsed(Schema):
    date: str
    source: str


class SimilarFilters(Filters):
    pass


class WordsQuery(Filters):
    q: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARACTERS,
        description="The shopper's words. The model takes its first 64 tokens; the answer "
        "says `truncated` when it cut the rest.",
    )
    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="The currency of price_min/price_max (ISO 4217): required with them.",
    )

    @model_validator(mode="after")
    def _range_has_a_currency(self):
        if (self.price_min is not None or self.price_max is not None) and not self.currency:
            raise ValueError("a price range needs its currency (currency=USD, say).")
        if not self.q.strip():
            raise ValueError("q must not be empty.")
        return self


class SimilarAnswer(Schema):
    results: list[ShownProduct]
    exchange_rates: RatesUsed | None = None


class SearchAnswer(SimilarAnswer):
    truncated: bool | None = Field(
        None, description="True when the query was longer than the model takes."
    )


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
    from vectors.search import similar_products

    with SEARCH_SECONDS.time():
        try:
            pk = UUID(product_id)
        except ValueError:
            return _error(request, 404, "no such product")
        try:
            rates = _rates_for(filters)
            results = similar_products(
                pk,
                limit=filters.limit,
                store_id=filters.store_id or None,
                price_min=filters.price_min,
                price_max=filters.price_max,
                currency=filters.currency,
                rates=rates,
            )
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
def search_words(request, query: Query[WordsQuery]):
    from vectors.metrics import SEARCH_SECONDS
    from vectors.query import search_by_words

    with SEARCH_SECONDS.time():
        try:
            rates = _rates_for(query)
            found = search_by_words(
                query.q,
                limit=query.limit,
                store_id=query.store_id or None,
                price_min=query.price_min,
                price_max=query.price_max,
                currency=query.currency,
                rates=rates,
            )
        except ValueError as exc:  # words the embedder finds nothing in ("!!!")
            return api.create_response(
                request,
                {"error": "invalid parameters", "fields": {"q": [{"message": str(exc)}]}},
                status=400,
            )
        except QueryNotSupported as exc:
            return _error(request, 409, str(exc))
        except (VectorStoreError, OperationalError) as exc:
            logger.warning("search by words failed: %s", first_line(exc))
            return _error(request, 503, "search is unavailable right now")
        answer = _answer(found.results, rates)
        if found.truncated:
            answer["truncated"] = True
        return answer


def _rates_for(filters: Filters):
    """The exchange rates a price range converts with (PRICE_CONVERSION), or None."""
    price_filtered = filters.price_min is not None or filters.price_max is not None
    return latest_rates() if price_filtered and settings.PRICE_CONVERSION else None


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
    return shown
