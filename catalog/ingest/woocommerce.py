"""WooCommerce sources: the public Store API and the authenticated REST API v3.

Both map WooCommerce's product JSON onto our schema and leave validation to validate.py.

Paging does not trust the shop's headers: pages are requested until one comes back empty
(or WordPress answers `400 ..._invalid_page_number`), because page caches and proxies drop
`X-WP-Total`/`X-WP-TotalPages`, and a shop may cap `per_page` below what we ask. The headers,
when present, are a cross-check: where they disagree with what was listed, or pages repeat,
the feed is marked as possibly incomplete and the import will not prune by it.

Records that are not one product at one price (grouped products, variable products without a
price, anything without a price) or not public (REST `status` other than `publish`,
`catalog_visibility: hidden`) are skipped and counted, not rejected. A variable product is
imported at its lowest price, the "from" price the shop shows.
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from catalog.exceptions import FeedError, FetchError
from catalog.ingest import records as reasons
from catalog.ingest.files import read_json_array
from catalog.ingest.http import PoliteClient, public_url
from catalog.ingest.records import SourceRecord
from catalog.ingest.seen import SeenIds

PER_PAGE = 100
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")
_MINOR_UNITS = re.compile(r"-?[0-9]+")


def clean_html(text: Any) -> str:
    """Plain text from WooCommerce's HTML: tags removed, entities decoded, spaces collapsed."""
    if not text:
        return ""
    text = _SCRIPT_OR_STYLE.sub(" ", str(text))
    text = _TAG.sub(" ", text)
    return _SPACE.sub(" ", html.unescape(text)).strip()


@dataclass
class FeedState:
    """What the reader learnt while fetching, read by the import when it ends."""

    pages_fetched: int = 0
    total_pages: int | None = None
    total_products: int | None = None
    listed: int = 0  # records on the pages, skipped and rejected ones included
    # Why the set of products listed may not be the shop's whole catalog (None: it is).
    doubt: str | None = None

    @property
    def fraction(self) -> float | None:
        if not self.total_pages:
            return None
        return min(1.0, self.pages_fetched / self.total_pages)

    def distrust(self, reason: str) -> None:
        self.doubt = self.doubt or reason

    def read_headers(self, headers: Any) -> None:
        total = _header_number(headers, "X-WP-Total")
        if total is not None:
            if self.total_products is not None and total != self.total_products:
                self.distrust("the shop's product count changed while paging")
            self.total_products = total
        pages = _header_number(headers, "X-WP-TotalPages")
        if pages is not None:
            self.total_pages = pages

    def cross_check(self) -> None:
        """At the end of the feed: does what was listed match what the shop said it has?"""
        if self.total_products is not None and self.listed != self.total_products:
            self.distrust(
                f"the shop reported {self.total_products:,} products (X-WP-Total) but listed "
                f"{self.listed:,}"
            )


def _header_number(headers: Any, name: str) -> int | None:
    value = (headers.get(name) or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _page_records(text: str, url: str, page: int) -> list[SourceRecord]:
    """A page's products, each parsed on its own: a record too deep or too odd to decode is
    that record's rejection, not the page's."""
    try:
        return [
            record._replace(line=None, label=record.label or f"page {page}, item {number}")
            for number, record in enumerate(read_json_array(io.StringIO(text)), start=1)
        ]
    except FeedError as exc:
        raise FetchError(
            f"{public_url(url)}: page {page} is not a list of products ({exc})"
        ) from None


def _paginate(
    client: PoliteClient, url: str, params: dict[str, Any], state: FeedState
) -> Iterator[SourceRecord]:
    """Every page's records, until an empty page; see the module docstring."""
    seen = SeenIds()  # product ids listed so far, to notice pages that repeat
    page = 1
    while True:
        try:
            text, headers = client.get_text(url, params | {"per_page": PER_PAGE, "page": page})
        except FetchError as exc:
            if page > 1 and exc.status == 400 and exc.code.endswith("invalid_page_number"):
                break  # WordPress: past the last page
            raise
        records = _page_records(text, url, page)
        state.read_headers(headers)
        if not records:
            break
        state.pages_fetched = page
        state.listed += len(records)
        ids = {str(r.data["id"]) for r in records if "id" in r.data}
        repeated = seen.add(ids)
        if ids and repeated == len(ids):
            # A shop (or a cache in front of it) that ignores `page` serves page 1 forever.
            state.distrust(f"page {page} repeats products already listed (is `page` ignored?)")
            break
        if repeated:
            state.distrust("products moved between pages while paging")
        yield from records
        page += 1
    state.cross_check()


def _first_image(product: dict[str, Any]) -> str:
    images = product.get("images") or []
    if images and isinstance(images[0], dict):
        return images[0].get("src") or ""
    return ""


def _record(
    product: Any,
    data: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
    skip: str | None = None,
    label: str | None = None,
) -> SourceRecord:
    product_id = product.get("id") if isinstance(product, dict) else None
    ref = f"product {product_id}" if product_id is not None else (label or "product without id")
    return SourceRecord(data or {"external_id": product_id}, None, ref, error, skip)


def _not_listed(product: dict[str, Any], *, has_price: bool) -> str | None:
    """Why a product the shop lists is not one product at one price for the public."""
    kind = product.get("type")
    if kind == "grouped":
        return reasons.SKIP_GROUPED  # a container: its items are listed on their own
    if product.get("status", "publish") != "publish":
        return reasons.SKIP_NOT_PUBLISHED  # the shop ignored ?status=publish
    if product.get("catalog_visibility") == "hidden":
        return reasons.SKIP_HIDDEN
    if not has_price:
        if kind == "variable":
            return reasons.SKIP_VARIABLE_WITHOUT_PRICE
        return reasons.SKIP_WITHOUT_PRICE
    return None


def _text_fields(product: dict[str, Any]) -> dict[str, Any]:
    return {
        "external_id": product.get("id"),
        "title": clean_html(product.get("name")),
        "description": clean_html(product.get("description") or product.get("short_description")),
        "image_url": _first_image(product),
        "product_url": product.get("permalink"),
    }


def store_api_product(record: SourceRecord, *, default_currency: str | None = None) -> SourceRecord:
    """One Store API product: prices are strings in minor units, with their own currency.
    A variable product's price is its range's minimum."""
    product = record.data
    if record.error:
        return _record(product, None, record.error, label=record.label)
    prices = product.get("prices")
    prices = prices if isinstance(prices, dict) else {}
    price_range = prices.get("price_range")
    raw_price = prices.get("price")
    if isinstance(price_range, dict) and price_range.get("min_amount") not in (None, ""):
        raw_price = price_range["min_amount"]
    skip = _not_listed(product, has_price=raw_price not in (None, ""))
    if skip:
        return _record(product, skip=skip)
    try:
        minor_unit = int(prices.get("currency_minor_unit", 2))
        if not 0 <= minor_unit <= 6:
            raise ValueError
    except (TypeError, ValueError):
        return _record(product, error=("price", "has an invalid currency_minor_unit"))
    raw = str(raw_price).strip() if isinstance(raw_price, (str, int)) else ""
    if not _MINOR_UNITS.fullmatch(raw) or isinstance(raw_price, bool):
        return _record(
            product,
            error=("price", f"must be a whole number of minor units, not {str(raw_price)[:40]!r}"),
        )
    data = _text_fields(product)
    data["price"] = _from_minor_units(raw, minor_unit)
    data["currency"] = prices.get("currency_code") or default_currency
    return _record(product, data)


def _from_minor_units(digits: str, minor_unit: int) -> str:
    """ "12345" in a currency of 3 minor units is "12.345"; validation rounds and range-checks
    it (no Decimal arithmetic here: a 30-digit price must be a rejection, not an exception)."""
    sign, digits = ("-", digits[1:]) if digits.startswith("-") else ("", digits)
    if minor_unit == 0:
        return sign + digits
    digits = digits.rjust(minor_unit + 1, "0")
    return f"{sign}{digits[:-minor_unit]}.{digits[-minor_unit:]}"


def read_store_api(
    url: str, *, client: PoliteClient, state: FeedState, default_currency: str | None = None
) -> Iterator[SourceRecord]:
    for record in _paginate(client, url, {}, state):
        yield store_api_product(record, default_currency=default_currency)


def rest_api_product(record: SourceRecord, *, currency: str) -> SourceRecord:
    """One REST v3 product: `price` is a decimal string in the store's currency (for a
    variable product, its lowest variation price)."""
    product = record.data
    if record.error:
        return _record(product, None, record.error, label=record.label)
    price = product.get("price")
    skip = _not_listed(product, has_price=price not in (None, ""))
    if skip:
        return _record(product, skip=skip)
    data = _text_fields(product)
    data["price"] = price  # validated, and reported when bad, by validate.py
    data["currency"] = currency
    return _record(product, data)


def api_route(url: str) -> str:
    """The REST route a URL names: its path, or its `rest_route` parameter on shops without
    pretty permalinks (https://shop.example/?rest_route=/wc/store/v1/products)."""
    parts = urlsplit(url)
    return parse_qs(parts.query).get("rest_route", [parts.path])[-1].rstrip("/")


def sibling_route(url: str, route: str) -> str:
    """Another route of the same API: .../wc/v3/products -> .../wc/v3/data/..., also where the
    route travels in the query (`?rest_route=/wc/v3/products`, shops without pretty links)."""
    path, _, query = url.partition("?")
    pairs = query.split("&") if query else []
    for index, pair in enumerate(pairs):
        name, _, value = pair.partition("=")
        if name == "rest_route":
            base = value.replace("%2F", "/").replace("%2f", "/").rstrip("/")
            pairs[index] = f"rest_route={base.removesuffix('/products')}/{route}"
            return f"{path}?{'&'.join(pairs)}"
    base = path.rstrip("/").removesuffix("/products")
    return f"{base}/{route}" + (f"?{query}" if query else "")


def store_currency(client: PoliteClient, url: str, *, fallback: str | None) -> str:
    """The shop's currency from its currencies route; `fallback` (--currency) where that
    route is missing (older WooCommerce: 404) or closed to a products-only key (403)."""
    route = sibling_route(url, "data/currencies/current")
    try:
        body, _ = client.get_json(route)
    except FetchError as exc:
        if exc.status not in (403, 404):
            raise
        if fallback:
            return fallback
        raise FetchError(
            f"{public_url(route)}: the shop does not tell its currency ({exc.status} "
            f"{exc.code or 'refused'}); pass --currency CODE with the shop's currency.",
            status=exc.status,
            code=exc.code,
        ) from None
    currency = body.get("code") if isinstance(body, dict) else None
    if not isinstance(currency, str) or not currency:
        if fallback:
            return fallback
        raise FetchError(f"{public_url(route)}: no currency code; pass --currency CODE.")
    if fallback and fallback.upper() != currency.upper():
        raise FetchError(
            f"{public_url(route)}: the shop's currency is {currency[:10]}, not "
            f"{fallback} as --currency says; drop --currency or correct it."
        )
    return currency


def read_rest_api(
    url: str,
    *,
    client: PoliteClient,
    state: FeedState,
    modified_after: str | None = None,
    default_currency: str | None = None,
) -> Iterator[SourceRecord]:
    currency = store_currency(client, url, fallback=default_currency)
    params: dict[str, Any] = {"status": "publish", "orderby": "id", "order": "asc"}
    if modified_after:
        params["modified_after"] = modified_after
    for record in _paginate(client, url, params, state):
        yield rest_api_product(record, currency=currency)
