import pytest

from catalog.models import Product
from tests.helpers import closed_port
from vectors.embedders import get_embedder
from vectors.search import ProductNotIndexed, similar_products
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db


def titles(results):
    return [item.title for item in results]


def test_nearest_first_and_never_itself(catalog):
    results = similar_products(catalog["shirt"].pk, limit=3)
    assert catalog["shirt"].pk not in [r.id for r in results]
    assert titles(results)[-1] == "Leather boots"
    assert set(titles(results)[:2]) == {"White linen shirt", "Linen shirt with pocket"}
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)


def test_filters_by_store_and_price(catalog):
    assert titles(similar_products(catalog["shirt"].pk, store_id="shop-b")) == ["White linen shirt"]
    in_range = similar_products(catalog["shirt"].pk, price_min=50, price_max=100)
    assert set(titles(in_range)) == {"White linen shirt", "Linen shirt with pocket"}


def test_points_of_deleted_products_are_skipped(catalog):
    Product.objects.filter(pk=catalog["shirt2"].pk).delete()  # not synced yet
    assert "White linen shirt" not in titles(similar_products(catalog["shirt"].pk))


def test_a_product_not_synced_yet(catalog, make_product):
    with pytest.raises(ProductNotIndexed):
        similar_products(make_product(title="New arrival").pk)


def url(product, **params):
    return f"/api/products/{product.pk}/similar", params


def test_api_returns_scored_products(client, catalog):
    path, params = url(catalog["shirt"], limit=2)
    response = client.get(path, params)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 2
    first = Product.objects.get(pk=results[0]["id"])
    assert results[0] | {"score": None} == {
        "id": str(first.pk),
        "title": first.title,
        "price": str(first.price),
        "currency": first.currency,
        "image_url": first.image_url,
        "product_url": first.product_url,
        "score": None,
        # A product no other shop sells: its own offer only.
        "offers": [
            {
                "id": str(first.pk),
                "store_id": first.store_id,
                "price": str(first.price),
                "currency": first.currency,
                "product_url": first.product_url,
            }
        ],
        "offers_total": 1,
    }
    assert 0 < results[1]["score"] <= results[0]["score"] <= 1


def test_api_filters(client, catalog):
    path, params = url(catalog["shirt"], store_id="shop-b", price_min="10", price_max="70")
    assert [r["title"] for r in client.get(path, params).json()["results"]] == ["White linen shirt"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "500"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"price_min": "-1"}, "price_min"),
        ({"price_max": "abc"}, "price_max"),
        ({"price_min": "50", "price_max": "10"}, "__all__"),
    ],
)
def test_api_validates_parameters(client, catalog, params, field):
    path, _ = url(catalog["shirt"])
    response = client.get(path, params)
    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_api_404_for_an_unknown_product(client, catalog):
    response = client.get("/api/products/00000000-0000-4000-8000-000000000000/similar")
    assert (response.status_code, response.json()) == (404, {"error": "no such product"})


def test_api_404_for_a_deleted_product_whose_point_is_not_gone_yet(client, catalog):
    Product.objects.filter(pk=catalog["shirt"].pk).delete()  # not synced yet
    response = client.get(f"/api/products/{catalog['shirt'].pk}/similar")
    assert (response.status_code, response.json()) == (404, {"error": "no such product"})


def test_api_503_when_qdrant_is_down(client, make_product, settings):
    settings.QDRANT = {"URL": f"http://127.0.0.1:{closed_port()}", "API_KEY": "secret-k"}
    response = client.get(f"/api/products/{make_product().pk}/similar")
    assert response.status_code == 503
    assert response.json() == {"error": "similar products are unavailable right now"}


def test_a_price_range_means_the_products_currency(catalog, qdrant, config, make_product):
    """100-300 USD is not 100-300 JPY: a range compares prices in one currency, by default
    the product's own; another can be asked for."""
    yen = make_product(title="Linen shirt, Tokyo cut", price="70.00", currency="JPY")
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    in_eur = similar_products(catalog["shirt"].pk, price_min=50, price_max=100)
    assert set(titles(in_eur)) == {"White linen shirt", "Linen shirt with pocket"}
    in_jpy = similar_products(catalog["shirt"].pk, price_min=50, price_max=100, currency="JPY")
    assert titles(in_jpy) == [yen.title]
    assert titles(similar_products(catalog["shirt"].pk)).count(yen.title) == 1  # no range


def test_api_takes_a_currency_and_refuses_a_malformed_one(client, catalog):
    path, _ = url(catalog["shirt"])
    answer = client.get(path, {"price_min": 50, "price_max": 100, "currency": "USD"})
    assert answer.status_code == 200
    assert answer.json()["results"] == []
    bad = client.get(path, {"price_min": 50, "currency": "usd"})
    assert bad.status_code == 400
    assert "currency" in bad.json()["fields"]


def test_a_currency_change_reaches_the_payload(catalog, qdrant, config):
    Product.objects.filter(pk=catalog["boots"].pk).update(currency="USD")
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    (point,) = qdrant.retrieve(config.collection, [str(catalog["boots"].pk)])
    assert point.payload["currency"] == "USD"


def test_with_price_conversion_a_range_reaches_every_currency_with_a_rate(
    client, catalog, qdrant, config, make_product, settings, rates_of_2024_06_28
):
    """50-100 EUR at 171.94 JPY per euro is 8,597-17,194 JPY; a currency without a rate
    (XOF) is left out rather than guessed. The answer says which day's rates it used and
    each converted price in the asked currency, with that currency's minor units."""
    settings.PRICE_CONVERSION = True
    yen_in = make_product(title="Linen shirt, Tokyo cut", price="12000", currency="JPY")
    make_product(title="Linen shirt, Osaka cut", price="18000", currency="JPY")  # 104.69 EUR
    make_product(title="Linen shirt, Dakar cut", price="40000", currency="XOF")  # no rate
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    path, _ = url(catalog["shirt"])

    answer = client.get(path, {"price_min": 50, "price_max": 100}).json()

    assert answer["exchange_rates"] == {"date": "2024-06-28", "source": "European Central Bank"}
    shown = {item["title"]: item for item in answer["results"]}
    assert set(shown) == {"White linen shirt", "Linen shirt with pocket", yen_in.title}
    assert shown[yen_in.title]["price"] == "12000"  # JPY has no minor units
    assert shown[yen_in.title]["converted_price"] == {"price": "69.79", "currency": "EUR"}
    assert "converted_price" not in shown["White linen shirt"]

    # In yen, euro prices are converted the other way: 60 EUR = 10,316.40 JPY (shown 10316)
    # is in, 90 EUR = 15,474.60 JPY is not.
    in_yen = client.get(path, {"price_min": 8000, "price_max": 15000, "currency": "JPY"}).json()
    shown = {item["title"]: item for item in in_yen["results"]}
    assert set(shown) == {"White linen shirt", yen_in.title}
    assert shown["White linen shirt"]["converted_price"] == {"price": "10316", "currency": "JPY"}


def test_without_price_conversion_rates_are_not_used(
    client, catalog, qdrant, config, make_product, settings, rates_of_2024_06_28
):
    settings.PRICE_CONVERSION = False
    make_product(title="Linen shirt, Tokyo cut", price="12000", currency="JPY")
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    path, _ = url(catalog["shirt"])
    answer = client.get(path, {"price_min": 50, "price_max": 100}).json()
    assert "exchange_rates" not in answer
    assert {item["title"] for item in answer["results"]} == {
        "White linen shirt",
        "Linen shirt with pocket",
    }


def test_a_converted_range_has_a_clause_per_currency_the_catalog_prices_in(
    make_product, rates_of_2024_06_28
):
    """Only the asked currency and those the catalog uses (here EUR and JPY, not the other
    29 the bank publishes); bounds widened to the cent, never narrowed, so a price that
    converts to exactly the asked bound is always in."""
    from decimal import Decimal

    from catalog.exchange_rates import latest_rates

    make_product(currency="EUR")
    make_product(currency="JPY")
    table = latest_rates()
    assert table.priced_in == {"EUR", "JPY"}
    ranges = {c: (lo, hi) for c, lo, hi in table.ranges(Decimal(100), Decimal(100), "USD")}
    assert set(ranges) == {"USD", "EUR", "JPY"}
    assert ranges["USD"] == (Decimal("100.00"), Decimal("100.00"))
    assert ranges["EUR"] == (Decimal("93.41"), Decimal("93.42"))  # 100 / 1.0705 = 93.4143...
