import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.catalog.ingest.shop_server import ShopServer


def product(i, **overrides):
    return {
        "external_id": f"sku-{i}",
        "title": f"Product {i}",
        "description": f"Description {i}",
        "price": f"{i}.50",
        "currency": "EUR",
        "image_url": f"https://cdn.shop.example/{i}.jpg",
        "product_url": f"https://shop.example/p/{i}",
    } | overrides


@pytest.fixture
def feed(tmp_path):
    """Write records (dicts, or raw strings for broken lines) as a JSON Lines file."""

    def write(records, name="feed.jsonl"):
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


class Run:
    def __init__(self, out: str, err: str, error: CommandError | None):
        self.out = out
        self.err = err
        self.error = error


@pytest.fixture
def run_import():
    def run(source, *args, store="shop-a"):
        out, err = StringIO(), StringIO()
        try:
            call_command(
                "import_products", str(source), "--store", store, *args, stdout=out, stderr=err
            )
            error = None
        except CommandError as exc:
            error = exc
        return Run(out.getvalue(), err.getvalue(), error)

    return run


STORE_PATH = "/wp-json/wc/store/v1/products"
REST_PATH = "/wp-json/wc/v3/products"
CURRENCY_PATH = "/wp-json/wc/v3/data/currencies/current"


def store_product(i, *, price="1099", minor=2, currency="USD", images=True, **extra):
    return {
        "id": i,
        "name": f"Product {i}",
        "permalink": f"https://shop.example/product/{i}/",
        "description": f"<p>Description of {i}</p>",
        "short_description": "",
        "prices": {
            "price": price,
            "regular_price": price,
            "currency_code": currency,
            "currency_minor_unit": minor,
        },
        "images": [{"id": 1, "src": f"https://shop.example/img/{i}.jpg"}] if images else [],
    } | extra


def rest_product(i, price="21.99", **extra):
    return {
        "id": i,
        "name": f"Rest product {i}",
        "permalink": f"https://shop.example/product/r{i}/",
        "description": "<p>Cotton &amp; linen</p>",
        "short_description": "",
        "price": price,
        "status": "publish",
        "images": [{"src": f"https://shop.example/img/r{i}.jpg"}],
    } | extra


@pytest.fixture
def fast_http(settings):
    settings.IMPORT_HTTP = {
        "timeout": 5.0,
        "retries": 3,
        "backoff": 0.01,
        "max_retry_after": 5.0,
        "min_interval": 0.0,
    }


@pytest.fixture
def shop(fast_http):
    """A WooCommerce-shaped shop on 127.0.0.1, and an importer that does not dawdle."""
    with ShopServer() as server:
        yield server
