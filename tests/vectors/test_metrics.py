"""GET /metrics: scraped as Prometheus would, never public by default."""

import pytest
from django.core.management import call_command
from prometheus_client.parser import text_string_to_metric_families

from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.models import ProductChange
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db

TOKEN = "scrape-token-for-tests"


def scrape(client, **headers) -> dict[str, float]:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain")
    return {
        sample.name
        + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.content.decode())
        for sample in family.samples
    }


def test_not_served_unless_configured(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = "", []
    answer = client.get("/metrics")
    assert answer.status_code == 404
    assert answer.json() == {"error": "not found"}


def test_a_wrong_token_or_another_address_is_refused(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, ["10.0.0.0/8"]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        answer = client.get("/metrics", headers=headers)
        assert answer.status_code == 403
        assert answer.json()["error"] == "a bearer token or an allowed address is needed"
    # Behind no proxy here: a forwarded header does not choose the address.
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.1.2.3"}).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_the_pipeline_as_prometheus_sees_it(client, settings, qdrant, config, make_product):
    settings.METRICS_TOKEN = TOKEN
    collection_ensure(client=qdrant, config=config)
    products = [make_product(title=f"Silk scarf {k}") for k in range(3)]
    failing = make_product(title="Failing")
    ProductChange.objects.filter(product_ids__contains=[failing.pk]).update(
        attempts=2, set_aside_at="2026-01-01T00:00:00Z"
    )
    before = scrape(client)
    assert before["catalog_products"] == 4
    assert before["catalog_sync_queue_products"] == 3
    assert before["catalog_sync_set_aside_products"] == 1
    assert before["catalog_vector_points"] == 0
    assert before["catalog_metrics_up{part=postgresql}"] == 1
    assert before["catalog_metrics_up{part=qdrant}"] == 1

    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    for product in products:
        assert client.get(f"/api/products/{product.pk}/similar").status_code == 200
    after = scrape(client)
    assert after["catalog_vector_points"] == 3
    assert after["catalog_sync_queue_products"] == 0
    assert after["catalog_sync_oldest_pending_seconds"] == 0
    assert (
        after["catalog_sync_delivered_total"] - before.get("catalog_sync_delivered_total", 0) == 3
    )
    searches = "catalog_similar_request_seconds_count"
    assert after[searches] - before.get(searches, 0) == 3
    embeds = "catalog_embed_batch_seconds_count{embedder=hashing}"
    assert after[embeds] - before.get(embeds, 0) >= 1


def test_qdrant_down_is_a_zero_not_a_failed_scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.QDRANT = {**settings.QDRANT, "URL": "http://127.0.0.1:9", "PATH": "", "TIMEOUT": "1"}
    found = scrape(client)
    assert found["catalog_metrics_up{part=qdrant}"] == 0
    assert "catalog_vector_points" not in found
    assert found["catalog_metrics_up{part=postgresql}"] == 1


def test_a_bad_allowed_address_is_a_system_check_error(settings):
    from django.core.management.base import SystemCheckError

    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "office-router"]
    with pytest.raises(SystemCheckError, match=r"vectors\.E021.*'office-router'"):
        call_command("check")
