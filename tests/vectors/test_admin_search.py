"""The admin's search page: words with the hashing stand-in, a photo through the tiny
FashionSigLIP (conftest.py), staff only, filters validated, failures said in one line."""

import io

import pytest

from tests.vectors.tiny_siglip import png
from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.query import model_slots
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db
URL = "/admin/catalog/product/search/"


def card_titles(response) -> list[str]:
    return [card["title"] for card in response.context["cards"]]


@pytest.fixture
def words_catalog(qdrant, config, make_product):
    collection_ensure(client=qdrant, config=config)
    make_product(title="Leather boots", description="Brown leather boots", price="120.00")
    make_product(title="Linen shirt", description="White linen shirt", store_id="shop-b")
    sync_pending(client=qdrant, config=config, embedder=get_embedder())


def test_words_find_products_shown_as_linked_thumbnails(admin_client, words_catalog):
    page = admin_client.post(URL, {"q": "leather boots"})
    assert page.status_code == 200
    assert card_titles(page)[0] == "Leather boots"
    first = page.context["cards"][0]
    assert first["link"].startswith("/admin/catalog/product/") and first["link"].endswith(
        "/change/"
    )
    assert first["store"] == "shop-a" and first["price"] == "120.00 EUR"
    html = page.content.decode()
    assert 'id="search-results"' in html and first["link"] in html


def test_the_page_is_linked_from_the_product_list(admin_client):
    assert URL in admin_client.get("/admin/catalog/product/").content.decode()


def test_filters_apply_and_are_validated(admin_client, words_catalog):
    page = admin_client.post(URL, {"q": "shirt boots", "store_id": "shop-b"})
    assert card_titles(page) == ["Linen shirt"]
    page = admin_client.post(URL, {"q": "boots", "price_min": "10"})
    assert page.context["form"].errors == {"currency": ["A price range needs its currency."]}
    page = admin_client.post(URL, {})
    assert page.context["form"].non_field_errors() == ["Type words or choose a photo."]


def test_a_photo_finds_products_through_the_model(admin_client, colour_catalog):
    page = admin_client.post(URL, {"image": io.BytesIO(png((0, 0, 250)))})
    assert page.status_code == 200
    assert set(card_titles(page)[:2]) == {"Blue dress", "Blue shirt"}
    broken = admin_client.post(URL, {"image": io.BytesIO(b"not a photo")})
    assert broken.context["form"].errors["image"] == [
        "image cannot be decoded: UnidentifiedImageError"
    ]


def test_failures_are_one_line_on_the_page(admin_client, words_catalog, settings):
    page = admin_client.post(URL, {"image": io.BytesIO(png((255, 0, 0)))})
    assert page.context["error"].startswith("The configured embedder (hashing) cannot embed")
    settings.VECTORS_QUERY_CONCURRENCY = 1
    settings.VECTORS_QUERY_WAIT = 0.01
    with model_slots.turn():
        busy = admin_client.post(URL, {"q": "boots"})
    assert busy.context["error"] == "The model is busy with other searches; try again in a moment."


def test_only_staff_may_search(client, django_user_model):
    assert client.get(URL).status_code == 302  # to the login page
    client.force_login(django_user_model.objects.create_user("shopper"))
    assert client.get(URL).status_code == 302
    # Staff, without the permission to view products:
    client.force_login(django_user_model.objects.create_user("clerk", is_staff=True))
    assert client.get(URL).status_code == 403


def test_the_form_is_csrf_protected(words_catalog, django_user_model):
    from django.test import Client

    admin = django_user_model.objects.create_superuser("boss", "b@example.com", "pw-1234-long")
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin)
    assert strict.post(URL, {"q": "boots"}).status_code == 403
    token = strict.get(URL).context["csrf_token"]
    assert strict.post(URL, {"q": "boots", "csrfmiddlewaretoken": str(token)}).status_code == 200


def test_a_photo_over_the_limit_is_refused(admin_client):
    # A body too large for any photo is refused before it is read ...
    page = admin_client.post(URL, {"image": io.BytesIO(b"\0" * (10 * 2**20 + 128 * 1024))})
    assert page.status_code == 413
    assert page.context["error"] == "The photo must be at most 10 MB."
    # ... and a photo just over the limit in a body that fits is the form's error.
    page = admin_client.post(URL, {"image": io.BytesIO(b"\0" * (10 * 2**20 + 1))})
    assert page.context["form"].errors["image"] == ["The photo must be at most 10 MB."]


def test_a_product_sold_by_several_shops_is_one_card_with_the_others(
    admin_client, qdrant, config, make_product
):
    from vectors.duplicates import check_queued_duplicates

    collection_ensure(client=qdrant, config=config)
    boots = {"title": "Leather boots", "description": "Brown leather boots"}
    make_product(store_id="shop-a", price="120.00", **boots)
    make_product(store_id="shop-b", price="99.00", **boots)
    make_product(title="Linen shirt", description="White linen shirt")
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    check_queued_duplicates(client=qdrant, config=config)
    page = admin_client.post(URL, {"q": "leather boots"})
    assert card_titles(page).count("Leather boots") == 1
    card = page.context["cards"][0]
    other = "shop-a" if card["store"] == "shop-b" else "shop-b"
    assert card["elsewhere"] == [f"{other} {'120.00' if other == 'shop-a' else '99.00'} EUR"]
    assert card["more"] == 0  # both copies shown
    assert f"also at {card['elsewhere'][0]}" in page.content.decode()
