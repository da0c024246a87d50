"""Not one shop's twenty (per_store), variety (diversity: Qdrant's MMR) and more like these
(POST /api/recommend: Qdrant's recommendation strategies), on both engines."""

import uuid

import pytest

from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.recommend import ExamplesNotFound, recommend_products
from vectors.search import SearchFilters, similar_products
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db

SHIRTS = [
    "Blue linen shirt with pocket",
    "Blue linen shirt short sleeves",
    "Blue linen shirt slim fit",
    "Blue linen shirt oversized",
]
OTHERS = ["Wool coat navy", "Leather boots brown", "Silk scarf printed", "Straw hat summer"]


@pytest.fixture
def catalog(qdrant, config, make_product):
    """Blue linen shirts, all from one big shop but one, and four unlike things."""
    collection_ensure(client=qdrant, config=config)
    items = {"query": make_product(title="Blue linen shirt", store_id="big")}
    for k, title in enumerate(SHIRTS):
        items[title] = make_product(title=title, store_id="big" if k else "small")
    for title in OTHERS:
        items[title] = make_product(title=title, store_id="other")
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    return items


def titles(results) -> list[str]:
    return [r.title for r in results]


def test_per_store_caps_how_many_results_one_store_fills(catalog):
    plain = similar_products(catalog["query"].pk, limit=4)
    assert [r.store_id for r in plain].count("big") == 3
    capped = similar_products(catalog["query"].pk, limit=4, per_store=1)
    stores = [r.store_id for r in capped]
    assert len(capped) == 3  # one each: big, small, other
    assert sorted(stores) == ["big", "other", "small"]


def test_diversity_trades_closeness_for_variety(catalog):
    nearest = similar_products(catalog["query"].pk, limit=3, collapse=False)
    assert set(titles(nearest)) <= set(SHIRTS)
    varied = similar_products(catalog["query"].pk, limit=3, collapse=False, diversity=0.9)
    assert set(titles(varied)) & set(OTHERS)


def test_more_like_these(catalog):
    liked = [catalog[SHIRTS[0]].pk]
    results = recommend_products(liked, filters=SearchFilters(limit=3))
    assert SHIRTS[0] not in titles(results)
    assert set(titles(results)) <= {"Blue linen shirt", *SHIRTS}
    for strategy in ("best_score", "sum_scores"):
        found = recommend_products(liked, filters=SearchFilters(limit=3), strategy=strategy)
        assert set(titles(found)) <= {"Blue linen shirt", *SHIRTS}, strategy


def test_disliked_products_push_the_answer_away(catalog):
    liked = [catalog["query"].pk, catalog["Wool coat navy"].pk]
    disliked = [catalog[title].pk for title in SHIRTS]
    results = recommend_products(liked, disliked, SearchFilters(limit=2))
    assert set(titles(results)) <= set(OTHERS)


def test_examples_it_cannot_use_are_named(catalog, make_product):
    stranger, unsynced = uuid.uuid4(), make_product(title="Just added")
    with pytest.raises(ExamplesNotFound) as caught:
        recommend_products([catalog["query"].pk, stranger], [unsynced.pk])
    assert caught.value.unknown == [stranger] and caught.value.unsynced == [unsynced.pk]


def test_the_api(client, catalog, make_product):
    answer = client.post(
        "/api/recommend",
        {"positive": [str(catalog[SHIRTS[0]].pk)], "limit": 2, "per_store": 1},
        content_type="application/json",
    )
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert len(results) == 2 and len({r["id"] for r in results}) == 2

    stranger = uuid.uuid4()
    unknown = client.post(
        "/api/recommend",
        {"positive": [str(catalog["query"].pk)], "negative": [str(stranger)]},
        content_type="application/json",
    )
    assert unknown.status_code == 400
    assert list(unknown.json()["fields"]) == ["negative"]
    assert str(stranger) in unknown.json()["fields"]["negative"][0]["message"]

    too_many = client.post(
        "/api/recommend",
        {"positive": [str(uuid.uuid4()) for _ in range(21)]},
        content_type="application/json",
    )
    assert too_many.status_code == 400 and "positive" in too_many.json()["fields"]
    nothing = client.post("/api/recommend", {"positive": []}, content_type="application/json")
    assert nothing.status_code == 400
