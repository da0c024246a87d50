"""A collection that does not hold the catalog fills itself (vectors/fill.py): a new
store, a recreated collection, one from before generations; never twice, never after a
re-index."""

import shutil
import threading
from datetime import datetime, timedelta

import pytest
from django.db import connection

from catalog.models import Product
from tests.helpers import run_manage, worker_env
from tests.vectors.helpers import watched_product
from vectors import fill
from vectors.client import get_qdrant_client, models
from vectors.collection import collection_ensure
from vectors.conf import Engine, qdrant_config
from vectors.embedders import get_embedder
from vectors.models import FilledCollection, ProductChange
from vectors.points import PRODUCT_FIELDS, embedder_input, price_key
from vectors.reconcile import reconcile
from vectors.reindex import reindex
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db


def sync(qdrant, config):
    return sync_pending(client=qdrant, config=config, embedder=get_embedder())


def point_ids(qdrant, config) -> set[str]:
    points, _ = qdrant.scroll(config.collection, limit=1000, with_payload=False)
    return {str(point.id) for point in points}


@pytest.fixture
def synced_long_ago(make_product):
    """A catalog whose changes were all delivered, to some other store: nothing queued."""
    products = [make_product(title=f"Linen shirt {k}") for k in range(4)]
    products.append(make_product(title="No photo yet", image_url=""))
    ProductChange.objects.all().delete()
    return products


def test_a_new_collection_fills_itself_from_the_catalog(qdrant, config, synced_long_ago):
    collection_ensure(client=qdrant, config=config)
    report = sync(qdrant, config)
    # The hashing stand-in embeds a product without a photo too (by its words).
    assert report.filled == 5
    assert report.embedded == 5
    assert "Queued 5 products the collection lacked" in report.summary()
    assert point_ids(qdrant, config) == {str(p.pk) for p in synced_long_ago}

    again = sync(qdrant, config)
    assert (again.filled, again.products) == (0, 0)
    assert not ProductChange.objects.exists()


def test_products_already_queued_are_not_queued_twice(
    qdrant, config, synced_long_ago, make_product
):
    fresh = [make_product(title=f"New coat {k}") for k in range(3)]  # queued by the triggers
    collection_ensure(client=qdrant, config=config)
    report = sync(qdrant, config)
    assert report.filled == 5
    assert report.embedded == 8
    assert {str(p.pk) for p in fresh} <= point_ids(qdrant, config)


def test_a_recreated_collection_is_filled_again(qdrant, config, synced_long_ago):
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    collection_ensure(client=qdrant, config=config, recreate=True)
    assert point_ids(qdrant, config) == set()

    report = sync(qdrant, config)
    assert report.filled == 5
    assert len(point_ids(qdrant, config)) == 5


def forget_generation(qdrant, config) -> None:
    """As a collection made before collections carried one."""
    physical = qdrant.get_aliases().aliases[0].collection_name
    qdrant.update_collection_metadata(physical, {fill.GENERATION: None})
    fill._known_filled.clear()


def test_a_complete_collection_from_before_generations_is_tagged_not_refilled(
    qdrant, config, synced_long_ago
):
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    forget_generation(qdrant, config)
    assert fill.GENERATION not in (qdrant.get_collection(config.collection).config.metadata or {})

    report = sync(qdrant, config)
    assert (report.filled, report.products) == (0, 0)
    generation = qdrant.get_collection(config.collection).config.metadata[fill.GENERATION]
    assert FilledCollection.objects.filter(generation=generation, queued=0).exists()


def test_an_incomplete_collection_from_before_generations_gets_what_it_lacks(
    qdrant, config, synced_long_ago
):
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    lost = str(synced_long_ago[0].pk)
    qdrant.delete(collection_name=config.collection, points_selector=[lost])
    forget_generation(qdrant, config)

    report = sync(qdrant, config)
    # Every product is queued as a payload change: the missing one is embedded, the
    # others only get their payload rewritten.
    assert report.filled == 5
    assert (report.embedded, report.payload_updated) == (1, 4)
    assert lost in point_ids(qdrant, config)


def test_a_reindexed_version_is_not_filled_again(qdrant, config, synced_long_ago):
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    reindex(client=qdrant, config=config, embedder=get_embedder())
    report = sync(qdrant, config)
    assert (report.filled, report.products) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_fill_it_once(qdrant, config, synced_long_ago):
    collection_ensure(client=qdrant, config=config)
    fill._known_filled.clear()
    queued, start = [], threading.Barrier(2)

    def worker():
        start.wait()
        try:
            queued.append(fill.fill_if_new(client=qdrant, config=config))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(queued) == [0, 5]
    assert sum(len(change.product_ids) for change in ProductChange.objects.all()) == 5


def test_moving_to_a_server_fills_the_server(settings, tmp_path, synced_long_ago, make_product):
    """From the embedded engine to a server (qdrant-client's API standing in for it), while
    the shop keeps changing products: the new collection is filled, not only the changes."""
    settings.QDRANT = {**settings.QDRANT, "URL": "", "HOST": "", "PATH": str(tmp_path / "q")}
    embedded, config = get_qdrant_client(), qdrant_config()
    collection_ensure(client=embedded, config=config)
    sync(embedded, config)
    assert len(point_ids(embedded, config)) == 5

    settings.QDRANT = {**settings.QDRANT, "PATH": ":memory:"}
    server, config = get_qdrant_client(), qdrant_config()
    collection_ensure(client=server, config=config)
    edited = synced_long_ago[1]
    edited.title = "Linen shirt, now in blue"
    edited.save()  # one change reaches the server before anything else
    sync(server, config)
    assert point_ids(server, config) == {str(p.pk) for p in synced_long_ago}
    report = reconcile(client=server, collection=config.collection, embedder=get_embedder())
    assert report.drift == 0


@pytest.mark.django_db(transaction=True)
def test_a_new_store_under_a_known_catalog_fills_itself_with_no_command_typed(settings, tmp_path):
    """`make clean && make run` with the database kept (a shared PostgreSQL): the demo
    import finds every product unchanged, yet the new store ends with all of them."""
    env = worker_env(settings, tmp_path)
    for k in range(30):
        watched_product(f"p{k}", f"Wool coat number {k}")
    for command in ("ensure_qdrant_collection", "sync_vectors"):
        assert run_manage(command, env=env).returncode == 0
    assert not ProductChange.objects.exists()

    shutil.rmtree(tmp_path / "qdrant")  # make clean
    assert run_manage("ensure_qdrant_collection", env=env).returncode == 0
    synced = run_manage("sync_vectors", env=env)
    assert synced.returncode == 0, synced.stderr
    assert "Queued 30 products the collection lacked (new to this catalog" in synced.stdout
    assert "Synced 30 products: 30 embedded" in synced.stdout
    checked = run_manage("reconcile_vectors", env=env)
    assert checked.returncode == 0, checked.stdout


def test_points_written_before_the_price_key_get_it_from_the_next_sync(
    qdrant, config, synced_long_ago
):
    """A collection whose metadata holds an older payload version (2: price and currency
    indexed apart, no price_key): every point's payload is rewritten once (no embedding),
    price_key indexed and the retired indexes dropped, so that price filters find them all."""
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    physical = qdrant.get_aliases().aliases[0].collection_name
    ids = [str(p.pk) for p in synced_long_ago]
    old = qdrant.retrieve(config.collection, ids, with_vectors=True)
    qdrant.upsert(
        config.collection,
        [
            models.PointStruct(
                id=point.id,
                vector=point.vector,
                payload={k: v for k, v in point.payload.items() if k != "price_key"},
            )
            for point in old
        ],
    )
    if qdrant.engine is not Engine.MEMORY:  # local mode keeps no payload indexes
        qdrant.delete_payload_index(physical, "price_key", wait=True)
        for name, schema in (("price", "float"), ("currency", "keyword")):
            qdrant.create_payload_index(physical, name, schema, wait=True)
    qdrant.update_collection_metadata(physical, {fill.PAYLOAD: 2})
    fill._known_filled.clear()

    report = sync(qdrant, config)
    assert (report.filled, report.embedded, report.payload_updated) == (5, 0, 5)
    found = qdrant.retrieve(config.collection, ids)
    assert {p.payload["price_key"] for p in found} == {
        price_key(p.price, p.currency) for p in synced_long_ago
    }
    assert qdrant.get_collection(config.collection).config.metadata[fill.PAYLOAD] == 3
    if qdrant.engine is not Engine.MEMORY:
        schema = qdrant.get_collection(config.collection).payload_schema
        assert "price_key" in schema
        assert "price" not in schema and "currency" not in schema
    assert sync(qdrant, config).products == 0


def test_a_collection_restored_from_an_older_copy_catches_up_by_itself(
    qdrant, config, make_product
):
    """A copy taken, life goes on (a product added, an image changed, one deleted), then the
    copy is put back, as a backup restore or a server snapshot does: the next sync finds the
    collection's time behind the catalog's and converges with no command typed."""
    kept, changed, deleted = (make_product(title=f"Wool coat {k}") for k in range(3))
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    held = qdrant.get_collection(config.collection).config.metadata[fill.SYNCED_THROUGH]
    copy, _ = qdrant.scroll(config.collection, limit=100, with_vectors=True, with_payload=True)

    added = make_product(title="Linen dress, added after the copy")
    Product.objects.filter(pk=changed.pk).update(
        title="Silk scarf", image_url="https://img.example.com/scarf.jpg"
    )
    Product.objects.filter(pk=deleted.pk).delete()
    sync(qdrant, config)
    assert FilledCollection.objects.get().synced_through > datetime.fromisoformat(held)

    # The copy comes back: its points and its time.
    qdrant.delete(config.collection, points_selector=list(point_ids(qdrant, config)))
    qdrant.upsert(
        config.collection,
        points=[models.PointStruct(id=p.id, vector=p.vector, payload=p.payload) for p in copy],
    )
    physical = qdrant.get_aliases().aliases[0].collection_name
    qdrant.update_collection_metadata(physical, {fill.SYNCED_THROUGH: held})

    report = sync(qdrant, config)

    assert report.filled >= 2  # what changed since the copy (and, within the slack, more)
    assert point_ids(qdrant, config) == {str(kept.pk), str(changed.pk), str(added.pk)}
    (point,) = qdrant.retrieve(config.collection, [str(changed.pk)], with_vectors=True)
    row = Product.objects.values(*PRODUCT_FIELDS).get(pk=changed.pk)
    (fresh,) = get_embedder().embed([embedder_input(row)])
    assert point.vector == pytest.approx(list(fresh), abs=1e-6)
    drift = reconcile(client=qdrant, collection=config.collection, embedder=get_embedder())
    assert drift.drift == 0
    assert (sync(qdrant, config).filled, ProductChange.objects.count()) == (0, 0)


def test_a_collection_as_new_as_the_catalog_is_not_caught_up(qdrant, config, make_product):
    make_product()
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    make_product()
    sync(qdrant, config)
    fill._synced_through.clear()  # as a new process: read from PostgreSQL, found equal
    assert (sync(qdrant, config).filled, ProductChange.objects.count()) == (0, 0)


def test_the_synced_through_time_never_moves_back(qdrant, config, make_product):
    """A long transaction's change committed late has an old time, but it is in the log,
    not lost: the collection's time stays, so no restore is seen where there was none."""
    product = make_product()
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    before = FilledCollection.objects.get().synced_through
    ProductChange.objects.create(
        needs_embedding=False,
        product_ids=[product.pk],
        changed_at=before - timedelta(minutes=5),
    )
    fill.record_synced_through(client=qdrant, config=config)
    assert FilledCollection.objects.get().synced_through == before
    held = qdrant.get_collection(config.collection).config.metadata[fill.SYNCED_THROUGH]
    assert datetime.fromisoformat(held) == before


def test_a_worker_whose_memory_is_stale_does_not_catch_up_again(
    qdrant, config, make_product, monkeypatch
):
    """Once one worker caught a restored collection up, the catalog's time is the
    collection's again; another worker that remembers the later time asks PostgreSQL
    before scrolling the collection, and does nothing."""
    from vectors import reconcile as reconcile_module

    make_product()
    collection_ensure(client=qdrant, config=config)
    sync(qdrant, config)
    metadata = qdrant.get_collection(config.collection).config.metadata
    generation, held = metadata[fill.GENERATION], metadata[fill.SYNCED_THROUGH]
    make_product()
    sync(qdrant, config)
    later = fill._synced_through[generation]
    physical = qdrant.get_aliases().aliases[0].collection_name
    qdrant.update_collection_metadata(physical, {fill.SYNCED_THROUGH: held})  # restored

    scrolls = []
    real = reconcile_module.remove_orphans
    monkeypatch.setattr(
        reconcile_module, "remove_orphans", lambda **kw: scrolls.append(1) or real(**kw)
    )
    assert fill.fill_if_new(client=qdrant, config=config) >= 1  # one worker catches it up
    assert len(scrolls) == 1
    fill._synced_through[generation] = later  # another worker's memory, before any delivery
    assert fill.fill_if_new(client=qdrant, config=config) == 0
    assert len(scrolls) == 1
