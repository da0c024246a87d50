import base64

import pytest

from catalog.ingest.woocommerce import clean_html
from catalog.models import Product
from tests.catalog.ingest.conftest import (
    CURRENCY_PATH,
    REST_PATH,
    STORE_PATH,
    rest_product,
    store_product,
)
from tests.helpers import SilentServer

pytestmark = pytest.mark.django_db


def prices():
    return {p.external_id: (str(p.price), p.currency) for p in Product.objects.all()}


def test_store_api_pages_through_the_whole_catalog(shop, run_import):
    shop.paginate(STORE_PATH, [store_product(i) for i in range(1, 251)])
    result = run_import(shop.base + STORE_PATH)
    assert result.error is None, result.err
    assert result.out.startswith("250 created")
    # Page 4 comes back empty: only that ends the feed (headers are not trusted to).
    assert [q["page"] for q in shop.requests_to(STORE_PATH)] == ["1", "2", "3", "4"]
    assert {q["per_page"] for q in shop.requests_to(STORE_PATH)} == {"100"}
    product = Product.objects.get(external_id="7")
    assert (product.title, product.description) == ("Product 7", "Description of 7")
    assert (product.image_url, product.product_url) == (
        "https://shop.example/img/7.jpg",
        "https://shop.example/product/7/",
    )


def test_store_api_minor_units_entities_and_missing_images(shop, run_import):
    shop.paginate(
        STORE_PATH,
        [
            store_product(1, price="1500", minor=0, currency="JPY"),
            store_product(2, price="1099", minor=2, currency="EUR"),
            store_product(3, price="12345", minor=3, currency="KWD"),
            store_product(
                4,
                name="Hoodie &amp; Cap &#8211; <b>Blue</b>",
                description="<p>Warm&nbsp;&amp; soft</p><script>alert(1)</script>",
                images=False,
            ),
        ],
    )
    result = run_import(shop.base + STORE_PATH)
    assert "1 without image" in result.out
    assert prices() == {
        "1": ("1500.00", "JPY"),
        "2": ("10.99", "EUR"),
        "3": ("12.35", "KWD"),  # 12.345 rounded half up to cents
        "4": ("10.99", "USD"),
    }
    hoodie = Product.objects.get(external_id="4")
    assert hoodie.title == "Hoodie & Cap \u2013 Blue"  # &#8211; is an en dash
    assert hoodie.description == "Warm & soft"  # &nbsp; becomes a plain space
    assert hoodie.image_url == ""


def test_a_store_api_price_that_is_not_minor_units_is_rejected(shop, run_import):
    shop.paginate(STORE_PATH, [store_product(1, price="10.99"), store_product(2)])
    result = run_import(shop.base + STORE_PATH)
    assert "rejected product 1 (external_id 1): price: must be a whole number of minor units" in (
        result.err
    )
    assert set(prices()) == {"2"}


def test_429_with_retry_after_is_honoured(shop, run_import):
    shop.paginate(STORE_PATH, [store_product(1)])
    shop.fail_first(STORE_PATH, (429, {"Retry-After": "1"}, {"code": "too_many_requests"}))
    result = run_import(shop.base + STORE_PATH)
    assert result.error is None
    first, second, _empty_page = [t for t, path, *_ in shop.requests if path == STORE_PATH]
    assert second - first >= 0.9  # waited as told, not the 0.01s backoff
    assert set(prices()) == {"1"}


def test_a_500_then_success_is_retried(shop, run_import):
    shop.paginate(STORE_PATH, [store_product(1)])
    shop.fail_first(STORE_PATH, (500, {}, {"code": "internal"}), (502, {}, {}))
    result = run_import(shop.base + STORE_PATH)
    assert result.error is None
    assert [q["page"] for q in shop.requests_to(STORE_PATH)] == ["1", "1", "1", "2"]


@pytest.fixture
def imported_shop(shop, run_import):
    """A shop of 150 products (two pages) whose catalog was imported once."""
    shop.paginate(STORE_PATH, [store_product(i) for i in range(1, 151)])
    run_import(shop.base + STORE_PATH)
    return shop


def on_page_two(change):
    return lambda query, answer: change(answer) if query.get("page") == "2" else answer


def test_a_shop_that_keeps_failing_keeps_what_was_read_and_prunes_nothing(
    imported_shop, run_import
):
    shop = imported_shop
    shop.alter(STORE_PATH, on_page_two(lambda answer: (503, {}, {"code": "unavailable"})))
    result = run_import(shop.base + STORE_PATH, "--prune")
    assert str(result.error).startswith(
        f"The feed broke off: {shop.base}{STORE_PATH}: HTTP 503 unavailable"
    )
    assert "Not pruned: the feed broke off." in result.out
    assert Product.objects.count() == 150


def test_401_is_a_clear_error(shop, run_import):
    shop.routes[STORE_PATH] = lambda q: (
        401,
        {},
        {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources."},
    )
    result = run_import(shop.base + STORE_PATH)
    assert str(result.error) == (
        f"{shop.base}{STORE_PATH}: access refused (401 woocommerce_rest_cannot_view). Check "
        "WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET, and that the key may read "
        "this route."
    )


def test_rest_no_route_is_a_clear_error(shop, run_import):
    result = run_import(shop.base + STORE_PATH)
    assert "no such API route (404 rest_no_route)" in str(result.error)
    assert "Traceback" not in result.err


def test_rest_api_uses_credentials_currency_and_publish_status(shop, run_import, settings):
    settings.WOOCOMMERCE_CONSUMER_KEY = "ck_test"
    settings.WOOCOMMERCE_CONSUMER_SECRET = "cs_secret"
    shop.routes[CURRENCY_PATH] = lambda q: (200, {}, {"code": "GBP", "symbol": "£"})
    shop.paginate(REST_PATH, [rest_product(1), rest_product(2, price="5")])
    result = run_import(shop.base + REST_PATH)
    assert result.error is None, result.err
    assert prices() == {"1": ("21.99", "GBP"), "2": ("5.00", "GBP")}
    assert Product.objects.get(external_id="1").description == "Cotton & linen"
    query = shop.requests_to(REST_PATH)[0]
    assert (query["status"], query["per_page"]) == ("publish", "100")
    expected_auth = "Basic " + base64.b64encode(b"ck_test:cs_secret").decode()
    assert {auth for *_, auth in shop.requests} == {expected_auth}
    assert "cs_secret" not in result.out + result.err


def test_rest_api_incremental_run(shop, run_import, settings):
    settings.WOOCOMMERCE_CONSUMER_KEY = "ck"
    settings.WOOCOMMERCE_CONSUMER_SECRET = "cs"
    shop.routes[CURRENCY_PATH] = lambda q: (200, {}, {"code": "EUR"})
    shop.paginate(REST_PATH, [rest_product(3)])
    result = run_import(shop.base + REST_PATH, "--modified-after", "2026-11-01T00:00:00")
    assert result.error is None
    assert shop.requests_to(REST_PATH)[0]["modified_after"] == "2026-11-01T00:00:00"
    refused = run_import(
        shop.base + REST_PATH, "--modified-after", "2026-11-01T00:00:00", "--prune"
    )
    assert "--prune needs the whole catalog" in str(refused.error)


def test_rest_api_without_credentials_says_which_variables(shop, run_import, settings):
    settings.WOOCOMMERCE_CONSUMER_KEY = ""
    result = run_import(shop.base + REST_PATH)
    assert "needs WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET" in str(result.error)
    assert shop.requests == []


def test_a_catalog_that_changes_while_paging_is_not_pruned(imported_shop, run_import):
    shop = imported_shop
    shop.alter(
        STORE_PATH,
        on_page_two(lambda answer: (answer[0], answer[1] | {"X-WP-Total": "151"}, answer[2])),
    )
    result = run_import(shop.base + STORE_PATH, "--prune")
    assert "Not pruned: the shop's product count changed while paging" in result.out


def test_clean_html():
    assert clean_html("<p>A&nbsp;<em>b</em></p>\n<style>p{}</style>c &lt;d&gt;") == "A b c <d>"


def test_a_shop_that_never_answers_times_out(run_import, settings, fast_http):
    settings.IMPORT_HTTP = settings.IMPORT_HTTP | {"timeout": 0.5, "retries": 1}
    with SilentServer() as server:
        result = run_import(f"http://127.0.0.1:{server.port}{STORE_PATH}")
    assert (
        str(result.error) == f"http://127.0.0.1:{server.port}{STORE_PATH}: ReadTimeout: timed out"
    )
