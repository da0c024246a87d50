from io import StringIO

import pytest
from django.core.management import call_command

from catalog.models import Product
from tests.vectors.helpers import expected_points, points
from vectors.client import get_qdrant_client
from vectors.collection import collection_ensure, collection_inspect, resolve_collection
from vectors.conf import qdrant_config
from vectors.embedders import get_embedder
from vectors.reindex import reindex
from vectors.search import similar_products
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def live(qdrant, config, make_product):
    collection_ensure(client=qdrant, config=config)
    products = [make_product(title=f"Linen shirt {i}") for i in range(6)]
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    return products


def test_reindex_swaps_the_alias_with_reads_working_throughout(qdrant, config, live, make_product):
    reads = []
    edits = iter(
        [
            lambda: make_product(title="Added during the fill"),
            lambda: Product.objects.filter(pk=live[0].pk).delete(),
            lambda: Product.objects.filter(pk=live[1].pk).update(title="Wool coat", price="7.00"),
        ]
    )

    def during_fill(report):
        reads.append(len(similar_products(live[2].pk, limit=3)))
        assert resolve_collection(client=qdrant, name="products") == "products_v1"
        next(edits, lambda: None)()

    report = reindex(
        client=qdrant, config=config, embedder=get_embedder(), page_size=2, on_page=during_fill
    )
    assert (report.old, report.new, report.dropped_old) == ("products_v1", "products_v2", True)
    assert len(reads) >= 3 and all(count == 3 for count in reads)
    assert resolve_collection(client=qdrant, name="products") == "products_v2"
    assert [c.name for c in qdrant.get_collections().collections] == ["products_v2"]
    # Every change made during the fill is in the new version, exactly.
    assert points(qdrant, "products") == expected_points()
    assert similar_products(live[2].pk, limit=3)


def test_reindex_to_a_new_vector_size(tmp_path, settings, make_product):
    settings.QDRANT = {"PATH": str(tmp_path / "qdrant")}
    collection_ensure(client=get_qdrant_client(), config=qdrant_config())
    for i in range(6):
        make_product(title=f"Linen shirt {i}")
    call_command("sync_vectors", stdout=StringIO(), stderr=StringIO())
    settings.QDRANT = settings.QDRANT | {"VECTOR_SIZE": "256"}  # a new model, say
    out = StringIO()
    call_command("reindex_vectors", "--keep-old", stdout=out, stderr=StringIO())
    config, qdrant = qdrant_config(), get_qdrant_client()
    assert out.getvalue().startswith(
        "'products' now points at 'products_v2' (was 'products_v1', kept): 6 products embedded"
    )
    state = collection_inspect(client=qdrant, config=config)
    assert (state.physical_name, state.differences, state.points_count) == ("products_v2", [], 6)
    assert sorted(c.name for c in qdrant.get_collections().collections) == [
        "products_v1",
        "products_v2",
    ]
