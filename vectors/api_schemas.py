"""The shop-front API's request and answer schemas (vectors/api.py serves them)."""

from __future__ import annotations

from decimal import Decimal
from typing import Literal
from uuid import UUID

from ninja import Field, Schema
from pydantic import model_validator

# Longer words are refused before any model sees them (the model takes 64 tokens of them).
MAX_QUERY_CHARACTERS = 1000


class ApiError(Schema):
    error: str


class InvalidParameters(ApiError):
    fields: dict[str, list[dict[str, str]]]


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
    collapse: Literal["group", "none"] = Field(
        "group",
        description="`group` (default): the same product sold by several shops is one result, "
        "with its cheapest `offers` and `offers_total`; `none`: every shop's copy is a result of "
        "its own.",
    )
    per_store: int | None = Field(
        None, ge=1, le=100, description="At most this many results from one store."
    )
    diversity: float = Field(
        0.0,
        ge=0,
        le=1,
        description="0: the nearest products; up to 1: closeness traded for variety (MMR).",
    )

    @model_validator(mode="after")
    def _range_in_order(self):
        if None not in (self.price_min, self.price_max) and self.price_min > self.price_max:
            raise ValueError("price_min must not be above price_max.")
        return self


class ConvertedPrice(Schema):
    price: str
    currency: str


class ShownOffer(Schema):
    id: UUID
    store_id: str
    price: str
    currency: str
    product_url: str


class ShownProduct(Schema):
    id: UUID
    title: str
    price: str = Field(description="With the currency's minor units: 12000 JPY, 19.90 USD.")
    currency: str
    image_url: str
    product_url: str
    score: float
    converted_price: ConvertedPrice | None = None
    offers: list[ShownOffer] | None = Field(
        None,
        # Ten: vectors.search.OFFERS_SHOWN, not imported (qdrant-client stays unloaded until
        # a search needs it).
        description="Where the same product is sold (this result among them), the cheapest "
        "ten, cheapest first; with collapse=group.",
    )
    offers_total: int | None = Field(
        None, description="How many shops' copies there are in all (this result among them)."
    )


class RatesUsed(Schema):
    date: str
    source: str


class SimilarFilters(Filters):
    pass


class QueryFiltersSchema(Filters):
    """Filters of a search from a query (words, a photo): there is no product whose
    currency a price range could take, so it needs its own."""

    currency: str | None = Field(
        None,
        pattern=r"^[A-Z]{3}$",
        description="The currency of price_min/price_max (ISO 4217): required with them.",
    )

    @model_validator(mode="after")
    def _range_has_a_currency(self):
        if (self.price_min is not None or self.price_max is not None) and not self.currency:
            raise ValueError("a price range needs its currency (currency=USD, say).")
        return self


class WordsQuery(QueryFiltersSchema):
    q: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARACTERS,
        description="The shopper's words. The model takes its first 64 tokens; the answer "
        "says `truncated` when it cut the rest.",
    )

    @model_validator(mode="after")
    def _words_not_blank(self):
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


class RecommendQuery(QueryFiltersSchema):
    positive: list[UUID] = Field(
        min_length=1, max_length=20, description="Products the shopper likes (1-20 ids)."
    )
    negative: list[UUID] = Field(
        [], max_length=20, description="Products the shopper does not want (0-20 ids)."
    )
    strategy: Literal["average_vector", "best_score", "sum_scores"] = Field(
        "average_vector",
        description="Qdrant's recommendation strategy: `average_vector` (one search near the "
        "liked products' average, away from the disliked ones'), `best_score` or `sum_scores` "
        "(every candidate scored against each example).",
    )


class PhotoQuery(QueryFiltersSchema):
    """A photo search's filters; the photo comes as the multipart field `image`."""


class PhotoUrlQuery(QueryFiltersSchema):
    image_url: str = Field(
        min_length=1,
        max_length=2000,
        pattern=r"^https?://",
        description="A public http(s) address of the photo; we fetch it once, never store it.",
    )
