"""GET /api/search?q=: products that match a shopper's words, with the same filters and
answer as similar products. The hashing stand-in embeds words in its own space, so the
search works offline; an embedder that cannot embed words is a 409."""

import pytest

from vectors.embedders import reset_embedder

pytestmark = pytest.mark.django_db


def titles(answer) -> list[str]:
    return [item["title"] for item in answer.json()["results"]]


def test_words_find_the_products_that_have_them(client, catalog):
    answer = client.get("/api/search", {"q": "leather boots"})
    assert answer.status_code == 200
    assert titles(answer)[0] == "Leather boots"
    assert "truncated" not in answer.json()
    first = answer.json()["results"][0]
    assert set(first) == {
        "id",
        "title",
        "price",
        "currency",
        "image_url",
        "product_url",
        "score",
        "offers",
        "offers_total",
    }


def test_the_filters_are_those_of_similar_products(client, catalog):
    in_store = client.get("/api/search", {"q": "linen shirt", "store_id": "shop-b"})
    assert titles(in_store) == ["White linen shirt"]
    in_range = client.get(
        "/api/search", {"q": "linen shirt", "price_min": 50, "price_max": 100, "currency": "EUR"}
    )
    assert set(titles(in_range)) == {"White linen shirt", "Linen shirt with pocket"}
    assert len(titles(client.get("/api/search", {"q": "shirt", "limit": 2}))) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "__all__"),
        ({"q": "!!! ???"}, "q"),  # nothing the embedder can read
        ({"q": "x" * 1001}, "q"),
        ({"q": "shirt", "price_min": 10}, "__all__"),  # a range needs its currency
        ({"q": "shirt", "limit": 0}, "limit"),
    ],
    ids=["missing", "empty", "blank", "no-words", "too-long", "range-without-currency", "limit"],
)
def test_bad_queries_are_400_naming_the_parameter(client, catalog, params, field):
    answer = client.get("/api/search", params)
    assert answer.status_code == 400
    assert list(answer.json()["fields"]) == [field]


def test_a_query_longer_than_the_model_takes_is_cut_and_says_so(client, catalog):
    words = " ".join(["boots"] + [f"word{k}" for k in range(80)])
    answer = client.get("/api/search", {"q": words})
    assert answer.status_code == 200
    assert answer.json()["truncated"] is True


def test_an_embedder_that_cannot_embed_words_is_a_409(client, catalog, monkeypatch):
    from vectors.embedders.hashing import HashingTextEmbedder

    reset_embedder()
    monkeypatch.delattr(HashingTextEmbedder, "embed_text")
    answer = client.get("/api/search", {"q": "boots"})
    assert answer.status_code == 409
    assert answer.json() == {
        "error": "The configured embedder (hashing) cannot embed words; search by a product "
        "or a photo instead."
    }


def test_qdrant_down_is_a_503(client, settings):
    settings.QDRANT = {"URL": "http://127.0.0.1:9", "CHECK_TIMEOUT": "1", "TIMEOUT": "1"}
    answer = client.get("/api/search", {"q": "boots"})
    assert answer.status_code == 503
    assert answer.json() == {"error": "search is unavailable right now"}


def test_the_openapi_document_has_the_words_search(client):
    operation = client.get("/api/openapi.json").json()["paths"]["/api/search"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"q", "limit", "currency"}
