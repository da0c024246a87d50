"""The embedded engine's adapter (vectors/edge.py): what qdrant-client's API promises, kept
over Qdrant Edge shards. Tests taking `qdrant` run on both backends and must agree."""

import json
import re
import uuid
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from tests.factories import create_products
from tests.vectors.helpers import create_alias, make_collection
from vectors.client import get_qdrant_client, models
from vectors.collection import collection_ensure
from vectors.conf import qdrant_config
from vectors.edge import EdgeStore
from vectors.exceptions import (
    CollectionAlreadyExists,
    CollectionNotFound,
    VectorStoreError,
    VectorStoreUnavailable,
)
from vectors.points import PAYLOAD_INDEXES

IDS = [str(uuid.UUID(int=n)) for n in range(1, 7)]


@pytest.fixture
def catalog(qdrant):
    """Six points: two stores, prices 10..60, one per day of November."""
    make_collection(qdrant, "c", size=4)
    for field in ("store_id", "created_at"):  # as the collection indexes them
        qdrant.create_payload_index("c", field, PAYLOAD_INDEXES[field])
    qdrant.create_payload_index("c", "price", models.PayloadSchemaType.FLOAT)
    qdrant.upsert(
        collection_name="c",
        points=[
            models.PointStruct(
                id=point_id,
                vector=[1.0, n * 0.1, 0.0, 0.5],
                payload={
                    "store_id": "a" if n % 2 else "b",
                    "price": 10.0 * n,
                    "created_at": datetime(2026, 11, n, tzinfo=UTC).isoformat(),
                },
            )
            for n, point_id in enumerate(IDS, start=1)
        ],
    )
    return qdrant


def found(client, query_filter, **options):
    hits = client.query_points(
        collection_name="c",
        query=[1.0, 0.3, 0.0, 0.5],
        query_filter=query_filter,
        limit=10,
        **options,
    ).points
    return sorted(IDS.index(hit.id) + 1 for hit in hits)


def store(value: str) -> models.FieldCondition:
    return models.FieldCondition(key="store_id", match=models.MatchValue(value=value))


def price(**bounds: float) -> models.FieldCondition:
    return models.FieldCondition(key="price", range=models.Range(**bounds))


@pytest.mark.parametrize(
    ("query_filter", "expected"),
    [
        (None, [1, 2, 3, 4, 5, 6]),
        (models.Filter(must=[store("a")]), [1, 3, 5]),
        (models.Filter(must=[price(gte=20, lt=50)]), [2, 3, 4]),
        (models.Filter(must_not=[models.HasIdCondition(has_id=[IDS[0], IDS[5]])]), [2, 3, 4, 5]),
        (models.Filter(should=[price(lte=10), price(gte=60)]), [1, 6]),
        (models.Filter(must=[models.Filter(must_not=[store("b")])]), [1, 3, 5]),
    ],
)
def test_filters_mean_the_same_on_both_backends(catalog, query_filter, expected):
    assert found(catalog, query_filter) == expected
    assert found(catalog, query_filter, search_params=models.SearchParams(exact=True)) == expected
    assert catalog.count("c", count_filter=query_filter, exact=True).count == len(expected)


@pytest.mark.parametrize(
    ("condition", "named"),
    [
        (models.FieldCondition(key="store_id", match=models.MatchAny(any=["a"])), "MatchAny"),
        (models.IsEmptyCondition(is_empty=models.PayloadField(key="price")), "IsEmptyCondition"),
    ],
)
def test_a_condition_the_project_never_builds_is_refused_on_edge(edge_store, condition, named):
    make_collection(edge_store, "c", size=4)
    with pytest.raises(VectorStoreError, match=f"does not support the .*{named}"):
        edge_store.query_points(
            "c", query=[1.0, 0, 0, 0], query_filter=models.Filter(must=[condition])
        )


def test_ids_and_payloads_come_back_as_from_a_server(catalog):
    record = catalog.retrieve(collection_name="c", ids=[IDS[2]], with_vectors=True)[0]
    assert record.id == IDS[2] and isinstance(record.id, str)
    assert record.payload["price"] == 30.0 and len(record.vector) == 4
    page, offset = catalog.scroll(collection_name="c", limit=4, with_payload=False)
    assert [point.id for point in page] == IDS[:4] and offset == IDS[4]
    page, offset = catalog.scroll(collection_name="c", limit=4, offset=offset)
    assert [point.id for point in page] == IDS[4:] and offset is None
    catalog.upsert(collection_name="c", points=[models.PointStruct(id=7, vector=[1, 0, 0, 0])])
    assert catalog.retrieve(collection_name="c", ids=[7])[0].id == 7


def test_points_in_columns_are_written_as_from_a_server(catalog):
    # The sync writes its batches as one Batch of columns (vectors/point_writer.py).
    ids = [str(uuid.UUID(int=n)) for n in (8, 9)]
    catalog.upsert(
        collection_name="c",
        points=models.Batch(
            ids=ids,
            vectors=[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]],
            payloads=[{"store_id": "a", "price": 1.0}, {"store_id": "b", "price": 2.0}],
        ),
    )
    records = catalog.retrieve(collection_name="c", ids=ids, with_vectors=True)
    assert sorted((r.id, r.payload["price"], r.vector[1]) for r in records) == [
        (ids[0], 1.0, pytest.approx(1.0)),
        (ids[1], 2.0, pytest.approx(0.0)),
    ]
    catalog.upsert(collection_name="c", points=models.Batch(ids=[10], vectors=[[1, 0, 0, 0]]))
    assert catalog.retrieve(collection_name="c", ids=[10])[0].payload == {}
    assert catalog.count("c").count == 9


def test_payload_updates_and_deletes(catalog):
    catalog.batch_update_points(
        collection_name="c",
        update_operations=[
            models.SetPayloadOperation(
                set_payload=models.SetPayload(payload={"price": 1.5}, points=[IDS[0]])
            )
        ],
    )
    catalog.delete(collection_name="c", points_selector=models.PointIdsList(points=IDS[1:3]))
    assert catalog.retrieve(collection_name="c", ids=[IDS[0]])[0].payload["price"] == 1.5
    assert catalog.retrieve(collection_name="c", ids=IDS[1:3]) == []
    assert catalog.count("c").count == 4


def test_a_vector_of_the_wrong_size_is_a_clear_error(catalog, config):
    with pytest.raises(VectorStoreError, match=f"^{re.escape(config.label)}: .*dim"):
        catalog.upsert(collection_name="c", points=[models.PointStruct(id=9, vector=[1.0, 2.0])])


def test_alias_changes_are_all_or_nothing(qdrant):
    make_collection(qdrant, "v1", size=4)
    make_collection(qdrant, "v2", size=4)
    create_alias(qdrant, "products", "v1")
    with pytest.raises(CollectionNotFound):
        qdrant.update_collection_aliases(
            change_aliases_operations=[
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name="products")),
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name="v3", alias_name="products")
                ),
            ]
        )
    assert [(a.alias_name, a.collection_name) for a in qdrant.get_aliases().aliases] == [
        ("products", "v1")
    ]
    with pytest.raises(CollectionAlreadyExists):
        make_collection(qdrant, "v1", size=4)


@pytest.fixture
def edge_store(tmp_path, settings):
    settings.QDRANT = {"PATH": str(tmp_path / "qdrant")}
    return get_qdrant_client()


def test_collection_info_reports_only_what_edge_knows(edge_store, tmp_path):
    collection_ensure(client=edge_store, config=qdrant_config())
    info = edge_store.get_collection("products")
    # No status or optimizer state: Edge has none, and a made-up "green" would be a guess.
    assert (info.status, info.optimizer_status, info.config.optimizer_config) == (None,) * 3
    params = info.config.params.vectors
    assert (params.size, params.distance, info.points_count) == (768, models.Distance.COSINE, 0)
    (created,) = (tmp_path / "qdrant").rglob("edge_config.json")
    assert info.config.hnsw_config.m == json.loads(created.read_text())["hnsw_config"]["m"]


def test_collections_are_directories_and_aliases_one_file(edge_store, tmp_path):
    root = tmp_path / "qdrant"
    make_collection(edge_store, "products_v1", size=4)
    create_alias(edge_store, "products", "products_v1")
    assert (root / "collections" / "products_v1" / "edge_config.json").exists()
    assert json.loads((root / "aliases.json").read_text()) == {"products": "products_v1"}
    edge_store.delete_collection("products_v1")  # its alias goes with it, as on a server
    assert not (root / "collections" / "products_v1").exists()
    assert json.loads((root / "aliases.json").read_text()) == {}
    assert [p.name for p in (root / "collections").iterdir()] == []


def test_a_shard_another_opener_holds_is_unavailable(edge_store, tmp_path):
    make_collection(edge_store, "c", size=4)
    edge_store.count("c")  # this process now has the shard open
    second = EdgeStore(qdrant_config())  # past our lock, as a foreign process would be
    with pytest.raises(VectorStoreUnavailable, match="is in use by another process"):
        second.count("c")


def test_optimize_vectors_builds_the_hnsw_index(edge_store):
    import numpy as np

    config = qdrant_config()
    collection_ensure(client=edge_store, config=config)
    vectors = np.random.default_rng(0).standard_normal((8000, 768)).astype(np.float32)
    for start in range(0, len(vectors), 1000):
        edge_store.upsert(
            collection_name="products",
            points=[
                models.PointStruct(id=start + k + 1, vector=vector.tolist())
                for k, vector in enumerate(vectors[start : start + 1000])
            ],
        )
    assert edge_store.get_collection("products").indexed_vectors_count == 0
    out = StringIO()
    call_command("optimize_vectors", stdout=out)
    info = edge_store.get_collection("products")
    assert info.indexed_vectors_count == info.points_count == 8000
    assert out.getvalue().startswith("Built the index of 'products_v1' in ")
    assert "8,000 of 8,000 vectors in the HNSW graph" in out.getvalue()
    out = StringIO()
    call_command("optimize_vectors", stdout=out)
    assert out.getvalue().startswith("Already up to date: the index of 'products_v1'")


def test_a_build_reopens_the_shard_and_keeps_holding_the_store(edge_store):
    """Edge keeps what a build replaced in memory until the shard is closed: after a build
    the adapter opens it afresh, with every point, and still the only holder."""
    import numpy as np

    config = qdrant_config()
    collection_ensure(client=edge_store, config=config)
    vectors = np.random.default_rng(1).standard_normal((8000, 768)).astype(np.float32)
    edge_store.upsert(
        collection_name="products",
        points=[models.PointStruct(id=k + 1, vector=v.tolist()) for k, v in enumerate(vectors)],
    )
    before = edge_store._client._shards["products_v1"]

    assert edge_store.optimize("products") is True
    after = edge_store._client._shards["products_v1"]
    assert after is not before
    assert edge_store.count("products").count == 8000
    hits = edge_store.query_points("products", query=vectors[41].tolist(), limit=1).points
    assert [hit.id for hit in hits] == [42]
    with pytest.raises(VectorStoreUnavailable, match="is in use by another process"):
        EdgeStore(qdrant_config()).count("products")

    assert edge_store.optimize("products") is False  # nothing built: left open as it was
    assert edge_store._client._shards["products_v1"] is after


def test_optimize_vectors_has_nothing_to_do_off_edge(settings):
    settings.QDRANT = {"PATH": ":memory:"}
    out = StringIO()
    call_command("optimize_vectors", stdout=out)
    assert out.getvalue() == (
        "in-memory Qdrant (qdrant-client local mode) builds its index by itself: nothing to do.\n"
    )


@pytest.mark.django_db
def test_sync_builds_the_index_as_it_goes(edge_store, monkeypatch):
    """sync_vectors builds the index after every INDEX_EVERY points it writes (one segment of
    about that size each time), so that no build grows with the whole store."""
    from vectors.management.commands import sync_vectors

    monkeypatch.setattr(sync_vectors, "INDEX_EVERY", 7_000)  # above the indexing threshold
    collection_ensure(client=edge_store, config=qdrant_config())
    create_products(8_000)
    err, out = StringIO(), StringIO()
    call_command("sync_vectors", "--batch-size", "500", stdout=out, stderr=err)
    notes = re.findall(
        r"sync: built the vector index for the points written so far in \d+s", err.getvalue()
    )
    assert len(notes) == 1, err.getvalue()  # at 7,000 written; the rest below the threshold
    info = edge_store.get_collection("products")
    assert info.points_count == 8_000
    assert 7_000 <= info.indexed_vectors_count < 8_000
    assert "Synced 8,000 products: 8,000 embedded" in out.getvalue()


@pytest.mark.django_db
def test_sync_builds_nothing_with_no_optimize(edge_store, monkeypatch, make_product):
    from vectors.management.commands import sync_vectors

    monkeypatch.setattr(sync_vectors, "INDEX_EVERY", 1)
    collection_ensure(client=edge_store, config=qdrant_config())
    built = []
    monkeypatch.setattr(EdgeStore, "optimize", lambda self, name: built.append(name))
    make_product()
    call_command("sync_vectors", "--no-optimize", stdout=StringIO(), stderr=StringIO())
    assert built == []
    make_product(title="Wool coat")
    call_command("sync_vectors", stdout=StringIO(), stderr=StringIO())
    assert built == ["products", "products"]  # after the point written, and at the end
