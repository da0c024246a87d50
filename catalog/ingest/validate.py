"""Validation of one record against the product rules, before anything is written.

The same rules PostgreSQL enforces (see catalog/migrations/0001), checked in Python first so
that one bad record is reported by name instead of failing its whole batch.

Prices are rounded to cents half up (12.345 -> 12.35, 0.005 -> 0.01): numeric(10,2) holds
two decimals, and stores in currencies with three minor units (KWD, BHD, ...) publish
three. Prices are plain ASCII decimal notation ("19.90", "1500"): exponents, digit
separators and other scripts' digits are rejected, never guessed. So is any value that would
not fit its column, before it reaches PostgreSQL.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from catalog.exceptions import RecordRejected
from catalog.ingest.records import ProductRow
from catalog.models import Product
from catalog.validators import NOT_HTTP, url_problem

CENT = Decimal("0.01")
MAX_PRICE = Decimal("99999999.99")  # numeric(10,2)
MAX_PRICE_DIGITS = 8  # before the decimal point
CURRENCY = re.compile(r"[A-Za-z]{3}")
# Plain ASCII decimal notation only: no exponent ("1e30"), no digit separators ("1_000"), no
# other scripts' digits ("١٢"), no "NaN" or "Infinity" -- all of which Decimal() accepts.
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_limits = {f.name: f.max_length for f in Product._meta.get_fields() if hasattr(f, "max_length")}
MAX_EXTERNAL_ID = _limits["external_id"]
MAX_STORE_ID = _limits["store_id"]
MAX_TITLE = _limits["title"]
MAX_URL = _limits["product_url"]
# For records that name no currency (and no --currency was given): the column's default.
DEFAULT_CURRENCY = Product._meta.get_field("currency").default
# Descriptions are plain text for search and display: a shop's 50 MB "description" would make
# its admin page 50 MB. 20,000 characters is about ten pages of text.
MAX_DESCRIPTION = 20_000


def _text(value: Any, field: str, required: bool) -> str:
    """A record's text field, stripped. Positional and short: it runs ~6 times a record."""
    if type(value) is str:  # the common case, first
        # PostgreSQL text cannot hold NUL; it is never meaningful in a product feed.
        text = (value.replace("\0", "") if "\0" in value else value).strip()
        if not text.isascii():
            _check_encodable(text, field)
    elif value is None:
        text = ""
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RecordRejected(field, f"must be text, not {type(value).__name__}")
    else:
        text = str(value).strip()
    if required and not text:
        raise RecordRejected(field, "is required" if value is None else "must not be empty")
    return text


def _check_encodable(text: str, field: str) -> None:
    """Bytes that were not UTF-8 (read as lone surrogates) or a JSON "\\ud800" escape: text
    PostgreSQL cannot store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordRejected(field, "is not valid UTF-8 text") from None


def clean_store_id(value: Any) -> str:
    """The store an import writes to, checked once before anything is read."""
    store_id = _text(value, "store_id", True)
    if len(store_id) > MAX_STORE_ID:
        raise RecordRejected("store_id", f"is longer than {MAX_STORE_ID} characters")
    if any(ch < " " or ch == "\x7f" for ch in store_id):
        raise RecordRejected("store_id", "must not contain control characters")
    return store_id


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
    if isinstance(value, int) and value.bit_length() > 64:
        raise RecordRejected("price", f"{value:.3e} does not fit numeric(10,2) (max {MAX_PRICE})")
    # A float's str() is the number the feed wrote ("19.9"), not its binary expansion.
    text = format(value, "f") if isinstance(value, Decimal) else str(value).strip()
    if not _DECIMAL.fullmatch(text):
        raise RecordRejected(
            "price", f"must be a plain decimal number such as 19.90, not {text[:40]!r}"
        )
    whole = text.lstrip("-").partition(".")[0].lstrip("0")
    if len(whole) > MAX_PRICE_DIGITS:
        # Checked before Decimal arithmetic: quantize() cannot hold 1e26 at cent precision.
        shown = text if len(text) <= 40 else f"a {len(whole)}-digit number"
        raise RecordRejected("price", f"{shown} does not fit numeric(10,2) (max {MAX_PRICE})")
    price = Decimal(text)
    if price < 0:
        raise RecordRejected("price", f"must be >= 0, not {text[:40]}")
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
    problem = url_problem(url)
    if problem == NOT_HTTP:
        raise RecordRejected(field, f"{problem}, not {url[:80]!r}")
    if problem:
        raise RecordRejected(field, f"{problem}: {url[:80]!r}")
    return url


def validate_record(
    data: dict[str, Any], *, store_id: str, default_currency: str | None = None
) -> ProductRow:
    """A ProductRow, or RecordRejected naming the first bad field."""
    if not isinstance(data, dict):
        raise RecordRejected("record", f"must be an object, not {type(data).__name__}")
    get = data.get
    external_id = _text(get("external_id"), "external_id", True)
    if len(external_id) > MAX_EXTERNAL_ID:
        raise RecordRejected("external_id", f"is longer than {MAX_EXTERNAL_ID} characters")
    record_store = get("store_id")
    if record_store not in (None, "") and str(record_store).strip() != store_id:
        raise RecordRejected(
            "store_id", f"is {str(record_store)[:40]!r} but the import is for {store_id!r}"
        )
    title = _text(get("title"), "title", True)
    if len(title) > MAX_TITLE:
        raise RecordRejected("title", f"is longer than {MAX_TITLE} characters")
    currency = _text(get("currency"), "currency", False) or default_currency or DEFAULT_CURRENCY
    if not CURRENCY.fullmatch(currency):
        raise RecordRejected("currency", f"must be three letters (ISO 4217), not {currency!r}")
    # Positional: a NamedTuple built from keywords costs several times more, per record.
    description = _text(get("description"), "description", False)
    if len(description) > MAX_DESCRIPTION:
        raise RecordRejected("description", f"is longer than {MAX_DESCRIPTION:,} characters")
    return ProductRow(
        external_id,
        title,
        description,
        clean_price(get("price")),
        currency.upper(),
        clean_url(get("image_url"), "image_url", False),
        clean_url(get("product_url"), "product_url", True),
    )
