from datetime import timedelta

import pytest
from django.db import connection
from django.db.models.functions import Now

from tests.factories import ProductFactory
from tests.helpers import closed_port
from vectors.client import get_qdrant_client
from vectors.collection import collection_ensure
from vectors.conf import qdrant_config


@pytest.fixture
def ensured_qdrant(settings):
    settings.QDRANT = {"PATH": ":memory:"}
    client = get_qdrant_client()
    collection_ensure(client=client, config=qdrant_config())
    return client


@pytest.fixture
def postgres_down(django_db_blocker):
    """Point the default connection at a closed port for the duration of a test."""
    with django_db_blocker.unblock():
        connection.close()
        original = connection.settings_dict["PORT"]
        connection.settings_dict["PORT"] = closed_port()
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict["PORT"] = original


@pytest.mark.django_db
def test_healthy_when_postgres_and_the_collection_are_up(client, ensured_qdrant):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert response.json() == {
        "status": "ok",
        "postgresql": {"ok": True},
        "qdrant": {
            "ok": True,
            "engine": "memory",
            "collection": "products",
            "reachable": True,
            "collection_ok": True,
            "points": 0,
        },
        "sync": {"ok": True, "points": 0, "products": 0, "queued": 0},
    }


@pytest.mark.django_db
def test_503_when_the_collection_is_missing(client, settings):
    settings.QDRANT = {"PATH": ":memory:"}
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["qdrant"] == {
        "ok": False,
        "engine": "memory",
        "collection": "products",
        "reachable": True,
        "collection_ok": False,
        "error": "collection missing",
    }


@pytest.mark.django_db
def test_503_when_qdrant_is_unreachable_without_leaking_the_api_key(client, settings):
    port = closed_port()
    settings.QDRANT = {"URL": f"http://127.0.0.1:{port}", "API_KEY": "health-secret"}
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.content.decode()
    assert "health-secret" not in body
    assert response.json()["status"] == "unavailable"
    assert response.json()["postgresql"] == {"ok": True}
    assert response.json()["qdrant"]["reachable"] is False


def test_503_when_postgres_is_down(client, ensured_qdrant, postgres_down):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["postgresql"]["ok"] is False
    assert "Connection refused" in body["postgresql"]["error"]
    assert body["qdrant"]["ok"] is True


@pytest.mark.django_db
def test_only_get_and_head(client, ensured_qdrant):
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_healthz_is_not_redirected_to_https(client, ensured_qdrant, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/admin/login/").status_code == 301


@pytest.mark.django_db
def test_degraded_when_the_sync_lags_and_ok_once_it_caught_up(client, ensured_qdrant, settings):
    from vectors.embedders import get_embedder
    from vectors.models import ProductChange
    from vectors.sync import sync_pending

    product = _product()
    ProductChange.objects.update(changed_at=Now() - timedelta(minutes=11))
    answer = client.get("/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["sync"]["ok"] is False
    assert body["sync"]["queued"] == 1
    assert body["sync"]["oldest_pending_seconds"] >= 660
    assert "is a sync_vectors worker running?" in body["sync"]["error"]

    settings.VECTORS_HEALTH_MAX_LAG = 3600
    assert client.get("/healthz").json()["status"] == "ok"

    sync_pending(client=ensured_qdrant, config=qdrant_config(), embedder=get_embedder())
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["sync"] == {"ok": True, "points": 1, "products": 1, "queued": 0}
    assert ensured_qdrant.retrieve("products", [str(product.pk)])


@pytest.mark.django_db
def test_degraded_when_points_are_missing_beyond_the_queue(client, ensured_qdrant):
    from vectors.embedders import get_embedder
    from vectors.sync import sync_pending

    products = [_product(k) for k in range(3)]
    sync_pending(client=ensured_qdrant, config=qdrant_config(), embedder=get_embedder())
    ensured_qdrant.delete(collection_name="products", points_selector=[str(products[0].pk)])
    body = client.get("/healthz").json()
    assert body["status"] == "degraded"
    assert body["sync"]["error"] == (
        "Qdrant holds 2 points for 3 products that should have one (queued ones left out): "
        "run manage.py reconcile_vectors --fix"
    )


def _product(k: int = 0):
    return ProductFactory(title=f"Linen shirt {k}", image_url="")
