import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from vectors.client import models
from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.models import ProductChange
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(qdrant, config, make_product):
    collection_ensure(client=qdrant, config=config)
    products = [make_product(title=f"Shirt number {i}") for i in range(7)]
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    return products


def reconcile(*args):
    out = StringIO()
    try:
        call_command("reconcile_vectors", "--batch-size", "3", *args, stdout=out, stderr=StringIO())
        return out.getvalue(), None
    except CommandError as exc:
        return out.getvalue(), exc


def test_in_step_means_no_drift(synced):
    out, error = reconcile()
    assert error is None
    assert out.startswith(
        "Checked 7 products and 7 points. Found: 0 missing, 0 stale, 0 orphan points."
    )


def test_finds_and_fixes_missing_stale_and_orphan_points(qdrant, config, synced):
    missing, stale = synced[0], synced[1]
    qdrant.delete(config.collection, points_selector=models.PointIdsList(points=[str(missing.pk)]))
    qdrant.set_payload(config.collection, payload={"price": 0.01}, points=[str(stale.pk)])
    orphan = str(uuid.uuid4())
    qdrant.upsert(
        config.collection, points=[models.PointStruct(id=orphan, vector=[0.1] * 768, payload={})]
    )
    ProductChange.objects.all().delete()

    out, error = reconcile()
    assert str(error) == "PostgreSQL and Qdrant differ in 3 places; run with --fix."
    assert "Found: 1 missing, 1 stale, 1 orphan point." in out
    assert f"  missing: {missing.pk}" in out
    assert f"  orphans: {orphan}" in out

    out, error = reconcile("--fix")
    assert error is None
    assert "Repaired: 1 missing, 1 stale, 1 orphan point." in out
    out, error = reconcile()
    assert error is None
    assert "Found: 0 missing, 0 stale, 0 orphan points." in out
    assert qdrant.retrieve(config.collection, [str(stale.pk)])[0].payload["price"] == float(
        stale.price
    )
