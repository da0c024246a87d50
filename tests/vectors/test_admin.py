import pytest
from django.urls import reverse

from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.models import ProductChange
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:catalog_product_changelist")


def change_url(product):
    return reverse("admin:catalog_product_change", args=[product.pk])


@pytest.fixture
def indexed(qdrant, config, make_product):
    collection_ensure(client=qdrant, config=config)
    products = [
        make_product(title="Blue linen shirt"),
        make_product(title="White linen shirt", image_url="https://cdn.example/w.jpg"),
        make_product(title="Leather boots"),
    ]
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    return products


def statuses(response):
    return {p.pk: p.pending_attempts for p in response.context["cl"].result_list}


def test_status_column_shows_indexed_pending_and_retrying(admin_client, indexed, make_product):
    waiting = make_product(title="Just added")
    failing = make_product(title="Failing")
    ProductChange.objects.filter(product_ids__contains=[failing.pk]).update(attempts=2)
    response = admin_client.get(CHANGELIST)
    content = response.content.decode()
    assert statuses(response) == {
        **{p.pk: None for p in indexed},
        waiting.pk: 0,
        failing.pk: 2,
    }
    assert "indexed" in content and "pending" in content and "retrying (2 failed)" in content


def test_change_page_shows_similar_products(admin_client, indexed):
    content = admin_client.get(change_url(indexed[0])).content.decode()
    panel = content.split("similar products")[-1]
    assert "White linen shirt" in panel
    assert change_url(indexed[1]) in panel
    assert 'src="https://cdn.example/w.jpg"' in panel
    assert "Blue linen shirt</a>" not in panel  # never itself


def test_change_page_of_a_product_not_yet_indexed(admin_client, indexed, make_product):
    content = admin_client.get(change_url(make_product(title="New"))).content.decode()
    assert "Not indexed yet: run manage.py sync_vectors." in content


def test_resync_action_queues_the_selected_products(admin_client, indexed):
    response = admin_client.post(
        CHANGELIST,
        {"action": "resync_vectors", "_selected_action": [str(indexed[0].pk), str(indexed[2].pk)]},
        follow=True,
    )
    assert "2 products queued for the vector sync" in response.content.decode()
    queued = ProductChange.objects.get()
    assert queued.needs_embedding
    assert sorted(queued.product_ids) == sorted([indexed[0].pk, indexed[2].pk])


def test_the_product_admin_is_registered_once_with_the_vector_additions():
    from django.contrib import admin

    from catalog.admin import ProductAdmin
    from catalog.models import Product
    from vectors.admin import ProductWithVectorsAdmin

    registered = admin.site._registry[Product]
    assert type(registered) is ProductWithVectorsAdmin
    assert issubclass(ProductWithVectorsAdmin, ProductAdmin)
    assert "vector_status" in registered.list_display


@pytest.mark.django_db
def test_a_product_without_image_is_shown_as_such_with_an_image_model(settings, make_product):
    from django.contrib import admin

    from catalog.models import Product
    from vectors.admin import PENDING_ATTEMPTS

    product = make_product(image_url="")
    product.pending_attempts = None  # delivered: nothing waiting in the log
    product.has_point = True  # as the list page found in Qdrant
    status = admin.site._registry[Product].vector_status
    assert status(product) == "indexed"  # the text stand-in embeds it
    settings.VECTORS_EMBEDDER = "fashion-siglip"
    assert status(product) == "no image"
    assert Product.objects.annotate(s=PENDING_ATTEMPTS).get(pk=product.pk).s == 0  # logged


def test_indexed_only_where_qdrant_has_the_point(admin_client, indexed, qdrant, config):
    """Nothing queued is not enough: a lost point (a new or restored store) says so."""
    qdrant.delete(collection_name=config.collection, points_selector=[str(indexed[0].pk)])
    content = admin_client.get(CHANGELIST).content.decode()
    assert content.count("missing (reconcile_vectors --fix)") == 1
    assert content.count(">indexed<") == 2


def test_the_list_works_and_says_unknown_when_qdrant_cannot_answer(admin_client, indexed, settings):
    settings.QDRANT = {**settings.QDRANT, "URL": "http://127.0.0.1:9", "PATH": "", "TIMEOUT": "1"}
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert response.content.decode().count("unknown (Qdrant unavailable)") == 3
