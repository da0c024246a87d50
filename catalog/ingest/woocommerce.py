"""WooCommerce sources: the public Store API and the authenticated REST API v3.

Both map WooCommerce's product JSON onto our schema and leave validation to validate.py.
"""

from __future__ import annotations

import contextlib
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.ingest.http import FetchError, PoliteClient
from catalog.ingest.records import SourceRecord

PER_PAGE = 100
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_SPACE = re.compile(r"\s+")


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
    # False when the shop's catalog changed while paging (pages may have shifted), so the
    # set of products seen is not trustworthy enough to prune by.
    consistent: bool = True

    @property
    def fraction(self) -> float | None:
        if not self.total_pages:
            return None
        return min(1.0, self.pages_fetched / self.total_pages)


def _paginate(
    client: PoliteClient, url: str, params: dict[str, Any], state: FeedState
) -> Iterator[dict[str, Any]]:
    page = 1
    while True:
        body, headers = client.get_json(url, params=params | {"per_page": PER_PAGE, "page": page})
        if not isinstance(body, list):
            raise FetchError(f"{url}: expected a list of products on page {page}.")
        total = headers.get("X-WP-Total")
        if state.total_products is None:
            state.total_products = int(total) if total and total.isdigit() else None
        elif total and total.isdigit() and int(total) != state.total_products:
            state.consistent = False
        total_pages = headers.get("X-WP-TotalPages")
        state.total_pages = int(total_pages) if total_pages and total_pages.isdigit() else None
        state.pages_fetched = page
        yield from body
        if not body or state.total_pages is None or page >= state.total_pages:
            return
        page += 1


def _first_image(product: dict[str, Any]) -> str:
    images = product.get("images") or []
    if images and isinstance(images[0], dict):
        return images[0].get("src") or ""
    return ""


def _record(product: Any, data: dict[str, Any] | None, error: tuple[str, str] | None):
    product_id = product.get("id") if isinstance(product, dict) else None
    ref = f"product {product_id}" if product_id is not None else "product without id"
    return SourceRecord(data or {"external_id": product_id}, None, ref, error)


def store_api_product(product: Any) -> SourceRecord:
    """One Store API product: prices are strings in minor units, with their own currency."""
    if not isinstance(product, dict):
        return _record(product, None, ("record", "must be a JSON object"))
    prices = product.get("prices") or {}
    try:
        minor_unit = int(prices.get("currency_minor_unit", 2))
        if not 0 <= minor_unit <= 6:
            raise ValueError
    except (TypeError, ValueError):
        return _record(product, None, ("price", "has an invalid currency_minor_unit"))
    raw_price = prices.get("price")
    if raw_price in (None, ""):
        return _record(product, None, ("price", "is required"))
    if not (isinstance(raw_price, (str, int)) and str(raw_price).strip().lstrip("-").isdigit()):
        return _record(
            product, None, ("price", f"must be a whole number of minor units, not {raw_price!r}")
        )
    price = Decimal(str(raw_price).strip()).scaleb(-minor_unit)
    data = {
        "external_id": product.get("id"),
        "title": clean_html(product.get("name")),
        "description": clean_html(product.get("description") or product.get("short_description")),
        "price": price,
        "currency": prices.get("currency_code"),
        "image_url": _first_image(product),
        "product_url": product.get("permalink"),
    }
    return _record(product, data, None)


def read_store_api(url: str, *, client: PoliteClient, state: FeedState) -> Iterator[SourceRecord]:
    for product in _paginate(client, url, {}, state):
        yield store_api_product(product)


def rest_api_product(product: Any, *, currency: str) -> SourceRecord:
    """One REST v3 product: prices are decimal strings in the store's currency."""
    if not isinstance(product, dict):
        return _record(product, None, ("record", "must be a JSON object"))
    price = product.get("price")
    # A price that is not a number goes to validation as it is, which reports it.
    with contextlib.suppress(InvalidOperation):
        price = Decimal(price) if isinstance(price, str) and price.strip() else price
    data = {
        "external_id": product.get("id"),
        "title": clean_html(product.get("name")),
        "description": clean_html(product.get("description") or product.get("short_description")),
        "price": price,
        "currency": currency,
        "image_url": _first_image(product),
        "product_url": product.get("permalink"),
    }
    return _record(product, data, None)


def rest_api_base(url: str) -> str:
    return url.split("?")[0].rstrip("/").removesuffix("/products")


def read_rest_api(
    url: str, *, client: PoliteClient, state: FeedState, modified_after: str | None = None
) -> Iterator[SourceRecord]:
    body, _ = client.get_json(f"{rest_api_base(url)}/data/currencies/current")
    currency = body.get("code") if isinstance(body, dict) else None
    if not currency:
        raise FetchError(f"{rest_api_base(url)}/data/currencies/current: no currency code.")
    params: dict[str, Any] = {"status": "publish", "orderby": "id", "order": "asc"}
    if modified_after:
        params["modified_after"] = modified_after
    for product in _paginate(client, url, params, state):
        yield rest_api_product(product, currency=currency)
