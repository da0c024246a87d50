"""Validation of one record against the product rules, before anything is written.

The same rules PostgreSQL enforces (see catalog/migrations/0001), checked in Python first so
that one bad record is reported by name instead of failing its whole batch.

Prices are rounded to cents half up (12.345 -> 12.35, 0.005 -> 0.01): numeric(10,2) holds
two decimals, and stores in currencies with three minor units (KWD, BHD, ...) publish
three. Everything else is rejected, never guessed.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from catalog.ingest.records import ProductRow, RecordRejected
from catalog.models import Product

CENT = Decimal("0.01")
MAX_PRICE = Decimal("99999999.99")  # numeric(10,2)
CURRENCY = re.compile(r"[A-Za-z]{3}")
# http(s), a host, then anything but spaces and control characters. One regex, because
# urllib's urlsplit costs more than the rest of a record's validation together.
HTTP_URL = re.compile(r"(?i:https?)://[^\s/?#\x00-\x1f\x7f]+(?:[/?#][^\s\x00-\x1f\x7f]*)?")
_limits = {f.name: f.max_length for f in Product._meta.get_fields() if hasattr(f, "max_length")}
MAX_EXTERNAL_ID = _limits["external_id"]
MAX_TITLE = _limits["title"]
MAX_URL = _limits["product_url"]


def _text(value: Any, field: str, required: bool) -> str:
    """A record's text field, stripped. Positional and short: it runs ~6 times a record."""
    if type(value) is str:  # the common case, first
        # PostgreSQL text cannot hold NUL; it is never meaningful in a product feed.
        text = (value.replace("\0", "") if "\0" in value else value).strip()
    elif value is None:
        text = ""
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordRejected(field, f"must be text, not {type(value).__name__}")
    else:
        text = str(value).strip()
    if required and not text:
        raise RecordRejected(field, "is required" if value is None else "must not be empty")
    return text


# A price already in canonical form ("0", "19", "19.9", "19.90"): no Decimal needed.
_PLAIN_PRICE = re.compile(r"(?:0|[1-9][0-9]{0,7})(\.[0-9]{1,2})?")


def clean_price(value: Any) -> str:
    if type(value) is str and (plain := _PLAIN_PRICE.fullmatch(value)):
        decimals = plain.group(1)
        if decimals is None:
            return value + ".00"
        return value + "0" if len(decimals) == 2 else value
    if value is None or value == "":
        raise RecordRejected("price", "is required")
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise RecordRejected("price", f"must be a number, not {type(value).__name__}")
    try:
        # str() first: a float's repr is the number the feed wrote, not its binary expansion.
        price = Decimal(str(value).strip())
    except InvalidOperation:
        raise RecordRejected("price", f"is not a number: {str(value)[:40]!r}") from None
    if not price.is_finite():
        raise RecordRejected("price", f"is not a finite number: {value!r}")
    if price < 0:
        raise RecordRejected("price", f"must be >= 0, not {price}")
    price = price.quantize(CENT, rounding=ROUND_HALF_UP)
    if price.is_zero():
        price = abs(price)  # "-0.00" would never compare equal to the stored "0.00"
    if price > MAX_PRICE:
        raise RecordRejected("price", f"{price} does not fit numeric(10,2) (max {MAX_PRICE})")
    return str(price)


def clean_url(value: Any, field: str, required: bool) -> str:
    url = _text(value, field, required)
    if not url:
        return ""
    if len(url) > MAX_URL:
        raise RecordRejected(field, f"is longer than {MAX_URL} characters")
    if not HTTP_URL.fullmatch(url):
        raise RecordRejected(
            field,
            f"must be an http:// or https:// URL with a host and no spaces, not {url[:80]!r}",
        )
    return url


def validate_record(data: dict[str, Any], *, store_id: str) -> ProductRow:
    """A ProductRow, or RecordRejected naming the first bad field."""
    if not isinstance(data, dict):
        raise RecordRejected("record", f"must be an object, not {type(data).__name__}")
    get = data.get
    external_id = _text(get("external_id"), "external_id", True)
    if len(external_id) > MAX_EXTERNAL_ID:
        raise RecordRejected("external_id", f"is longer than {MAX_EXTERNAL_ID} characters")
    record_store = get("store_id")
    if record_store not in (None, "") and str(record_store).strip() != store_id:
        raise RecordRejected("store_id", f"is {record_store!r} but the import is for {store_id!r}")
    title = _text(get("title"), "title", True)
    if len(title) > MAX_TITLE:
        raise RecordRejected("title", f"is longer than {MAX_TITLE} characters")
    currency = _text(get("currency"), "currency", False) or "USD"
    if not CURRENCY.fullmatch(currency):
        raise RecordRejected("currency", f"must be three letters (ISO 4217), not {currency!r}")
    # Positional: a NamedTuple built from keywords costs several times more, per record.
    return ProductRow(
        external_id,
        title,
        _text(get("description"), "description", False),
        clean_price(get("price")),
        currency.upper(),
        clean_url(get("image_url"), "image_url", False),
        clean_url(get("product_url"), "product_url", True),
    )
