"""What a product's Qdrant point holds: the one definition.

Point id = the product's UUID; vector = the embedding of EMBEDDING_COLUMNS (the image, or the
text for the offline stand-in); payload = PAYLOAD, each field from product columns, in the
form Qdrant filters on, with its payload index. The sync writes `payload_of(row)`, reconcile
compares points with `payload_of(row)`, the collection builds its indexes from PAYLOAD, and
and the change-log triggers (vectors/change_log.py) watch exactly these columns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from vectors.client import models
from vectors.embedders import ProductInput


@dataclass(frozen=True)
class PayloadField:
    name: str  # the payload key
    columns: tuple[str, ...]  # the Product columns it comes from
    value: Callable[..., Any]  # the payload's value, from those columns' values in order
    index: Any = None  # how Qdrant indexes it; None: kept for reading, never filtered on


def _same(value: Any) -> Any:
    return value


# A price filter is one range on one number: the currency's three letters read as a base-26
# number, times PRICE_SPAN, plus the price (numeric(10,2): below 10^8). Every price of one
# currency lies in its own span, so "EUR 100-300" is the range [EUR + 100, EUR + 300] of one
# index, where a currency condition beside a price range asked two indexes and cost the price
# band's p95 twice over at a million products. The largest key (ZZZ) is below 2e12: float64
# keeps 2.4e-4 apart there, so distinct prices (a cent apart) never share a key.
PRICE_SPAN = Decimal(10**8)


def currency_span(currency: str) -> Decimal:
    """Where this currency's prices start on the price key."""
    base = 0
    for letter in currency:
        base = base * 26 + (ord(letter) - ord("A"))
    return base * PRICE_SPAN


def price_key(price: Decimal | float | str, currency: str) -> float:
    """The price on the one scale every currency shares (rounded once, from the exact sum)."""
    return float(currency_span(currency) + Decimal(str(price)))


PAYLOAD = (
    PayloadField("product_id", ("id",), str, models.PayloadSchemaType.UUID),
    # The tenant: Qdrant keeps each store's points together, so per-store filters are fast.
    PayloadField(
        "store_id",
        ("store_id",),
        _same,
        models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
    ),
    # Read back, not filtered on: price filters use price_key.
    PayloadField("price", ("price",), float),
    PayloadField("currency", ("currency",), _same),
    PayloadField("price_key", ("price", "currency"), price_key, models.PayloadSchemaType.FLOAT),
    # Indexed for filters, but no similarity search filters on it: without its payload-aware
    # HNSW links a segment builds faster (bench/RESULTS.md).
    PayloadField(
        "created_at",
        ("created_at",),
        lambda value: value.isoformat(),
        models.DatetimeIndexParams(type=models.DatetimeIndexType.DATETIME, enable_hnsw=False),
    ),
)
PAYLOAD_INDEXES: dict[str, Any] = {
    field.name: field.index for field in PAYLOAD if field.index is not None
}
# Indexed by earlier PAYLOAD_VERSIONs, dropped by the upgrade (vectors/fill.py).
RETIRED_PAYLOAD_INDEXES = ("price", "currency")
# Raised whenever PAYLOAD gains a field: a collection whose metadata holds a lower version
# gets every point's payload rewritten by the next sync (vectors/fill.py). 2: currency;
# 3: price_key (the price and currency indexes it replaces are dropped).
PAYLOAD_VERSION = 3
PAYLOAD_COLUMNS = tuple(dict.fromkeys(column for field in PAYLOAD for column in field.columns))
EMBEDDING_COLUMNS = ("image_url", "title", "description")
# The product columns the vector index needs, read in one query.
PRODUCT_FIELDS = tuple(dict.fromkeys((*PAYLOAD_COLUMNS, *EMBEDDING_COLUMNS)))


def payload_of(row: dict[str, Any]) -> dict[str, Any]:
    return {
        field.name: field.value(*(row[column] for column in field.columns)) for field in PAYLOAD
    }


def embedder_input(row: dict[str, Any]) -> ProductInput:
    return ProductInput(
        id=str(row["id"]),
        title=row["title"],
        description=row["description"],
        image_url=row["image_url"],
    )
