"""Real shops' ways, over real HTTP on 127.0.0.1: pages without headers, capped page sizes,
plain permalinks, missing currency routes, records that are not one product at one price,
and bad values among good ones.

The fixture files are real WooCommerce answers (see fixtures/SOURCES.md); the variable
products below are built to WooCommerce's Store API shape, since the published answers used
here have none."""

import json
from pathlib import Path

import pytest

from catalog.models import Product
from tests.catalog.ingest.conftest import (
    CURRENCY_PATH,
    REST_PATH,
    STORE_PATH,
    rest_product,
    store_product,
)

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name):
    return json.loads((FIXTURES / name).read_text())


def stored(store="shop-a"):
    return {
        p.external_id: (str(p.price), p.currency) for p in Product.objects.filter(store_id=store)
    }


def pages_requested(shop, route=STORE_PATH):
    return [q["page"] for q in shop.requests_to(route)]


@pytest.fixture
def rest_credentials(settings):
    settings.WOOCOMMERCE_CONSUMER_KEY = "ck_test"
    settings.WOOCOMMERCE_CONSUMER_SECRET = "cs_test"


# --- Paging that cannot be fooled -------------------------------------------------------


@pytest.mark.parametrize("headers", [True, False], ids=["with-headers", "without-headers"])
def test_a_shop_that_serves_three_per_page_is_read_whole_and_pruned_safely(
    shop, run_import, headers
):
    # The case: without X-WP-* headers the importer stopped after page 1 and
    # --prune deleted the 7 products it had not seen.
    products = [store_product(i) for i in range(1, 11)]
    shop.paginate(STORE_PATH, products, headers=headers, max_per_page=3)
    first = run_import(shop.base + STORE_PATH)
    assert first.error is None, first.err
    assert first.out.startswith("10 created")
    assert pages_requested(shop) == ["1", "2", "3", "4", "5"]  # 3+3+3+1, then an empty page

    again = run_import(shop.base + STORE_PATH, "--prune")
    assert again.out.startswith("0 created, 0 updated, 10 unchanged, 0 rejected, 0 pruned")
    assert len(stored()) == 10

    # A product really gone from a complete feed is pruned, headers or not.
    shop.paginate(STORE_PATH, products[:-1], headers=headers, max_per_page=3)
    pruned = run_import(shop.base + STORE_PATH, "--prune")
    assert "1 pruned" in pruned.out
    assert sorted(stored(), key=int) == [str(i) for i in range(1, 10)]


def test_wordpress_400_past_the_last_page_ends_the_feed(shop, run_import):
    shop.paginate(STORE_PATH, [store_product(i) for i in range(1, 101)], past_the_end="400")
    result = run_import(shop.base + STORE_PATH, "--prune")
    assert result.error is None, result.err
    assert result.out.startswith("100 created") and "0 pruned" in result.out
    assert pages_requested(shop) == ["1", "2"]


def test_a_shop_that_ignores_the_page_parameter_is_not_pruned(shop, run_import):
    # Seen in the wild: woocommerce/woocommerce-rest-api#60, every page the same products.
    shop.paginate(STORE_PATH, [store_product(i) for i in range(1, 6)])
    run_import(shop.base + STORE_PATH)
    page_one = [store_product(i) for i in range(1, 4)]
    shop.routes[STORE_PATH] = lambda query: (200, {}, page_one)
    result = run_import(shop.base + STORE_PATH, "--prune")
    assert result.error is None, result.err
    assert "Not pruned: page 2 repeats products already listed (is `page` ignored?)." in result.out
    assert pages_requested(shop)[-2:] == ["1", "2"]  # stopped, not looping
    assert len(stored()) == 5


def test_a_feed_shorter_than_its_headers_say_is_not_pruned(shop, run_import):
    shop.paginate(STORE_PATH, [store_product(i) for i in range(1, 6)])
    run_import(shop.base + STORE_PATH)
    shop.alter(
        STORE_PATH,
        lambda query, answer: (answer[0], answer[1] | {"X-WP-Total": "6"}, answer[2][:4]),
    )
    result = run_import(shop.base + STORE_PATH, "--prune")
    assert "Not pruned: the shop reported 6 products (X-WP-Total) but listed 4." in result.out
    assert len(stored()) == 5


# --- The URL's own query ------------------------------------------------------------------


def test_plain_permalink_store_api_url_with_filters(shop, run_import):
    route = STORE_PATH.removeprefix("/wp-json")
    shop.paginate(route, [store_product(i) for i in range(1, 4)])
    url = f"{shop.base}/?rest_route=/wc/store/v1/products&category=22&lang=en"
    result = run_import(url)
    assert result.error is None, result.err
    assert result.out.startswith("3 created")
    first = shop.requests_to(route)[0]
    assert first == {
        "rest_route": route,
        "category": "22",
        "lang": "en",
        "per_page": "100",
        "page": "1",
    }


def test_plain_permalink_rest_api_url_reaches_both_routes(shop, run_import, rest_credentials):
    shop.routes["/wc/v3/data/currencies/current"] = lambda q: (200, {}, {"code": "EUR"})
    shop.paginate("/wc/v3/products", [rest_product(1)])
    result = run_import(f"{shop.base}/?rest_route=/wc/v3/products&category=9")
    assert result.error is None, result.err
    assert stored() == {"1": ("21.99", "EUR")}
    query = shop.requests_to("/wc/v3/products")[0]
    assert (query["category"], query["status"], query["per_page"]) == ("9", "publish", "100")


# --- The currency of a REST API shop -------------------------------------------------------


@pytest.mark.parametrize("status", [403, 404])
def test_a_closed_or_missing_currencies_route_asks_for_currency(
    shop, run_import, rest_credentials, status
):
    shop.routes[CURRENCY_PATH] = lambda q: (
        status,
        {},
        {"code": "woocommerce_rest_cannot_view", "message": "Sorry, you cannot list resources."},
    )
    shop.paginate(REST_PATH, [rest_product(1), rest_product(2, price="5")])
    refused = run_import(shop.base + REST_PATH)
    assert str(refused.error) == (
        f"{shop.base}{CURRENCY_PATH}: the shop does not tell its currency ({status} "
        "woocommerce_rest_cannot_view); pass --currency CODE with the shop's currency."
    )
    assert shop.requests_to(REST_PATH) == []  # failed before importing anything
    assert stored() == {}

    result = run_import(shop.base + REST_PATH, "--currency", "inr")
    assert result.error is None, result.err
    assert stored() == {"1": ("21.99", "INR"), "2": ("5.00", "INR")}


def test_currency_that_contradicts_the_shop_is_refused(shop, run_import, rest_credentials):
    shop.routes[CURRENCY_PATH] = lambda q: (200, {}, {"code": "GBP"})
    shop.paginate(REST_PATH, [rest_product(1)])
    result = run_import(shop.base + REST_PATH, "--currency", "EUR")
    assert "the shop's currency is GBP, not EUR as --currency says" in str(result.error)
    assert stored() == {}


def test_currency_option_must_be_a_code(shop, run_import):
    result = run_import(shop.base + STORE_PATH, "--currency", "euro")
    assert str(result.error) == "--currency must be three letters (ISO 4217), not 'EURO'."


# --- Records that are not one product at one price, or not public ------------------------


def test_real_store_api_answer_grouped_skipped_minor_units_and_sale_prices(shop, run_import):
    shop.paginate(STORE_PATH, fixture("store_api_products.json"))
    result = run_import(shop.base + STORE_PATH)
    assert result.error is None, result.err
    assert result.out.startswith(
        "5 created, 0 updated, 0 unchanged, 0 rejected, 1 skipped (grouped products: 1)"
    )
    # USD with three minor units: "2500" is 2.500; a sale price is the price.
    assert stored() == {
        "60": ("2.50", "USD"),
        "59": ("18.00", "USD"),
        "48": ("45.00", "USD"),
        "47": ("35.00", "USD"),
        "45": ("16.00", "USD"),
    }
    beanie = Product.objects.get(external_id="60")
    assert beanie.title == "Beanie with Logo"
    assert beanie.description.startswith("Pellentesque habitant morbi")
    assert beanie.product_url == "https://hichamwootest.wpcomstaging.com/product/beanie-with-logo/"


def test_variable_products_take_their_from_price_or_are_skipped(shop, run_import):
    with_range = store_product(
        1,
        type="variable",
        prices={
            "price": "1800",
            "regular_price": "2000",
            "sale_price": "1800",
            "price_range": {"min_amount": "1500", "max_amount": "4500"},
            "currency_code": "EUR",
            "currency_minor_unit": 2,
        },
    )
    without_price = store_product(
        2,
        type="variable",
        prices={
            "price": "",
            "regular_price": "",
            "sale_price": "",
            "price_range": None,
            "currency_code": "EUR",
            "currency_minor_unit": 2,
        },
    )
    simple_without_price = store_product(3, price="")
    shop.paginate(STORE_PATH, [with_range, without_price, simple_without_price, store_product(4)])
    result = run_import(shop.base + STORE_PATH)
    assert result.error is None, result.err  # skipped records do not fail the run
    assert "2 created" in result.out
    skipped = "2 skipped (variable products without a price: 1, products without a price: 1)"
    assert skipped in result.out
    assert stored() == {"1": ("15.00", "EUR"), "4": ("10.99", "USD")}


def test_real_rest_answer_and_records_the_shop_should_not_have_listed(
    shop, run_import, rest_credentials
):
    shop.routes[CURRENCY_PATH] = lambda q: (200, {}, {"code": "AUD"})
    listed = [
        *fixture("rest_v3_products.json"),
        rest_product(101, status="private"),
        rest_product(102, status="draft"),
        rest_product(103, catalog_visibility="hidden"),
        rest_product(104, catalog_visibility="search"),  # found by search: a public product
        rest_product(105, type="variable", price=""),
    ]
    shop.paginate(REST_PATH, listed)
    result = run_import(shop.base + REST_PATH)
    assert result.error is None, result.err
    assert result.out.startswith(
        "3 created, 0 updated, 0 unchanged, 0 rejected, 5 skipped (not published: 2, "
        "grouped products: 1, hidden from the catalog: 1, variable products without a price: 1)"
    )
    assert stored() == {"60": ("2.00", "AUD"), "59": ("18.00", "AUD"), "104": ("21.99", "AUD")}


def test_a_product_made_private_is_pruned_from_a_complete_feed(shop, run_import, rest_credentials):
    shop.routes[CURRENCY_PATH] = lambda q: (200, {}, {"code": "NPR"})
    shop.paginate(REST_PATH, [rest_product(1), rest_product(2)])
    run_import(shop.base + REST_PATH)
    shop.paginate(REST_PATH, [rest_product(1), rest_product(2, status="private")])
    result = run_import(shop.base + REST_PATH, "--prune")
    assert "1 skipped (not published: 1), 1 pruned" in result.out
    assert stored() == {"1": ("21.99", "NPR")}


# --- Bad values among good ones ------------------------------------------------------------


def test_each_bad_value_is_a_named_rejection_and_the_rest_is_saved(shop, run_import):
    deep = b"[" * 5000 + b"]" * 5000
    good = [json.dumps(store_product(i)).encode() for i in (1, 2, 3)]
    bad_name = json.dumps(store_product(4, name="Caf\udce9")).encode("utf-8", "surrogateescape")
    bad_name = bad_name.replace(b"\\udce9", b"\xe9")  # a Latin-1 byte, not UTF-8
    page = (
        b"["
        + b",".join(
            [
                good[0],
                json.dumps(store_product(5, price="1" + "0" * 30)).encode(),
                json.dumps(store_product(6, price="\u0661\u0662")).encode(),
                b'{"id": 7, "name": ' + deep + b"}",
                good[1],
                bad_name,
                json.dumps(
                    store_product(8, images=False) | {"images": [{"src": "http://a..b/x.png"}]}
                ).encode(),
                json.dumps(store_product(9, description="d" * 20_001)).encode(),
                good[2],
            ]
        )
        + b"]"
    )
    shop.routes[STORE_PATH] = lambda q: (200, {}, page if q.get("page") == "1" else b"[]")
    result = run_import(shop.base + STORE_PATH)
    assert str(result.error) == "6 records rejected."
    assert "Traceback" not in result.err
    assert set(stored()) == {"1", "2", "3"}
    rejected = [line for line in result.err.splitlines() if line.startswith("rejected")]
    assert rejected == [
        f"rejected product 5 (external_id 5): price: 1{'0' * 28}.00 does not fit "
        "numeric(10,2) (max 99999999.99)",
        "rejected product 6 (external_id 6): price: must be a whole number of minor units, "
        "not '\u0661\u0662'",
        "rejected page 1, item 4: record: is nested too deeply",
        "rejected product 4 (external_id 4): title: is not valid UTF-8 text",
        "rejected product 8 (external_id 8): image_url: has an invalid host name 'a..b': "
        "'http://a..b/x.png'",
        "rejected product 9 (external_id 9): description: is longer than 20,000 characters",
    ]


def test_credentials_in_the_url_query_never_reach_a_message(shop, run_import):
    shop.routes[STORE_PATH] = lambda q: (500, {}, {"code": "internal_error"})
    result = run_import(
        f"{shop.base}{STORE_PATH}?consumer_key=ck_visible&consumer_secret=cs_hidden&lang=en"
    )
    assert str(result.error) == f"{shop.base}{STORE_PATH}?lang=en: HTTP 500 internal_error"
    assert shop.requests_to(STORE_PATH)[0]["consumer_secret"] == "cs_hidden"  # still sent
    assert "cs_hidden" not in result.out + result.err + str(result.error)
    assert "ck_visible" not in result.out + result.err + str(result.error)


def test_a_page_too_large_to_be_products_stops_the_import_without_pruning(
    shop, run_import, settings
):
    shop.paginate(STORE_PATH, [store_product(i) for i in range(1, 4)])
    run_import(shop.base + STORE_PATH)
    settings.IMPORT_HTTP = settings.IMPORT_HTTP | {"max_page_bytes": 1000}
    shop.routes[STORE_PATH] = lambda q: (200, {}, b"[" + b" " * 5000 + b"]")
    result = run_import(shop.base + STORE_PATH, "--prune")
    assert str(result.error) == f"{shop.base}{STORE_PATH}: the answer is larger than 1,000 bytes."
    assert len(stored()) == 3
