"""sync_vectors against embedded Qdrant and the real PostgreSQL."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Product
from tests.factories import ProductFactory
from tests.vectors.helpers import expected_points, points
from vectors.client import get_qdrant_client
from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.models import ProductChange
from vectors.sync import sync_pending
from vectors.sync_queue import pending_count

pytestmark = pytest.mark.django_db


class CountingEmbedder:
    """Wraps the real embedder and counts what it was asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.embedded: list[str] = []

    def embed(self, products):
        self.embedded += [p.id for p in products]
        return self.inner.embed(products)


@pytest.fixture
def collection(qdrant, config):
    collection_ensure(client=qdrant, config=config)
    return config.collection


@pytest.fixture
def embedder(collection):
    return CountingEmbedder(get_embedder())


def sync(qdrant, config, embedder):
    return sync_pending(client=qdrant, config=config, embedder=embedder)


def test_sync_delivers_new_products_with_their_payload(qdrant, config, embedder, make_product):
    products = [make_product() for _ in range(3)]
    report = sync(qdrant, config, embedder)
    assert (report.embedded, report.deleted, report.failed) == (3, 0, {})
    assert points(qdrant, config.collection) == expected_points()
    assert not ProductChange.objects.exists()
    assert sorted(embedder.embedded) == sorted(str(p.pk) for p in products)


def test_sync_is_idempotent(qdrant, config, embedder, make_product):
    make_product()
    sync(qdrant, config, embedder)
    assert sync(qdrant, config, embedder).products == 0


def test_price_only_change_updates_the_payload_without_embedding(
    qdrant, config, embedder, make_product
):
    product = make_product()
    sync(qdrant, config, embedder)
    embedder.embedded.clear()
    Product.objects.filter(pk=product.pk).update(price="5.00", store_id="shop-z")
    report = sync(qdrant, config, embedder)
    assert (report.payload_updated, report.embedded) == (1, 0)
    assert embedder.embedded == []
    assert points(qdrant, config.collection) == expected_points()


def test_title_change_embeds_again(qdrant, config, embedder, make_product):
    product = make_product()
    sync(qdrant, config, embedder)
    vector_before = qdrant.retrieve(config.collection, [str(product.pk)], with_vectors=True)[0]
    product.title = "Completely different words"
    product.save()
    assert sync(qdrant, config, embedder).embedded == 1
    vector_after = qdrant.retrieve(config.collection, [str(product.pk)], with_vectors=True)[0]
    assert vector_after.vector != vector_before.vector


def test_deletes_and_queryset_deletes_remove_points(qdrant, config, embedder, make_product):
    keep = make_product()
    make_product(store_id="b")
    make_product(store_id="b")
    sync(qdrant, config, embedder)
    Product.objects.filter(store_id="b").delete()
    report = sync(qdrant, config, embedder)
    assert report.deleted == 2
    assert set(points(qdrant, config.collection)) == {str(keep.pk)}


def test_import_then_sync(qdrant, config, embedder, tmp_path):
    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        "\n".join(
            f'{{"external_id": "{i}", "title": "Shirt {i}", "price": "{i}", '
            f'"product_url": "https://s.example/{i}"}}'
            for i in range(1, 31)
        )
    )
    call_command("import_products", str(feed), "--store", "s", stdout=StringIO(), stderr=StringIO())
    assert pending_count() == 30
    assert sync(qdrant, config, embedder).embedded == 30
    assert points(qdrant, config.collection) == expected_points()


def test_a_product_that_cannot_be_embedded_is_requeued_with_its_reason(
    qdrant, config, embedder, make_product
):
    product = make_product(title="!!!", description="")
    report = sync(qdrant, config, embedder)
    assert report.failed == {str(product.pk): "no words in title or description"}
    retry = ProductChange.objects.get()
    assert retry.product_ids == [product.pk]
    assert retry.attempts == 1 and retry.not_before is not None
    assert "no words in title or description" in retry.last_error
    # Not due yet: the next run leaves it alone.
    assert sync(qdrant, config, embedder).products == 0


def test_sync_command_reports_and_exits_non_zero_on_failures(qdrant, collection, make_product):
    make_product()
    make_product(title="???", description="")
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=r"1 product could not be synced"):
        call_command("sync_vectors", stdout=out, stderr=err)
    assert out.getvalue().startswith(
        "Synced 2 products: 1 embedded, 0 payload updates, 0 deleted, 1 failed."
    )
    assert "not synced: product" in err.getvalue()


def test_sync_command_without_collection_says_what_to_run(qdrant, make_product):
    make_product()
    with pytest.raises(CommandError, match=r"Run manage\.py ensure_qdrant_collection"):
        call_command("sync_vectors", stdout=StringIO(), stderr=StringIO())
    assert ProductChange.objects.count() == 1


def test_saves_survive_an_outage_and_sync_catches_up_after(
    tmp_path, settings, make_product, monkeypatch
):
    import subprocess
    import sys

    from tests.helpers import PROJECT_DIR, manage_env
    from vectors.client import reset_qdrant_clients
    from vectors.conf import qdrant_config
    from vectors.management.commands import sync_vectors

    path = str(tmp_path / "qdrant")
    settings.QDRANT = {"PATH": path, "TIMEOUT": "1"}
    client, config = get_qdrant_client(), qdrant_config()
    collection_ensure(client=client, config=config)
    kept, changed, deleted = make_product(), make_product(), make_product()
    sync_pending(client=client, config=config, embedder=get_embedder())
    reset_qdrant_clients()  # let another process take the store

    holder = subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from vectors.client import get_qdrant_client; get_qdrant_client(); "
            "print('holding', flush=True); import time; time.sleep(120)",
        ],
        cwd=PROJECT_DIR,
        env=manage_env({"DJANGO_DEBUG": "1", "QDRANT_PATH": path}),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        # Qdrant is unavailable to us, yet every write to the catalog succeeds.
        added = make_product(title="Added during the outage")
        Product.objects.filter(pk=changed.pk).update(price="1.23")
        Product.objects.filter(pk=deleted.pk).delete()
        monkeypatch.setattr(sync_vectors, "RETRIES", 1)
        with pytest.raises(CommandError, match=r"is in use by manage\.py shell \(pid \d+\)"):
            call_command("sync_vectors", stdout=StringIO(), stderr=StringIO())
        assert pending_count() == 3
    finally:
        holder.kill()
        holder.wait()

    call_command("sync_vectors", stdout=StringIO(), stderr=StringIO())
    assert pending_count() == 0
    assert points(get_qdrant_client(), config.collection) == expected_points()
    assert set(expected_points()) == {str(kept.pk), str(changed.pk), str(added.pk)}


@pytest.mark.django_db(transaction=True)
def test_watch_mode_delivers_changes_as_they_come_and_stops_on_sigterm(tmp_path, settings):
    import signal
    import subprocess
    import sys

    from tests.helpers import PROJECT_DIR, manage_env
    from vectors.client import reset_qdrant_clients
    from vectors.conf import qdrant_config

    db = settings.DATABASES["default"]
    path = str(tmp_path / "qdrant")
    env = manage_env(
        {
            "DJANGO_DEBUG": "1",
            "QDRANT_PATH": path,
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}"
            f"/{db['NAME']}",
        }
    )
    assert (
        subprocess.run(
            [sys.executable, "manage.py", "ensure_qdrant_collection"],
            cwd=PROJECT_DIR,
            env=env,
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "sync_vectors", "--watch", "--interval", "0.2"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout.readline().startswith("Watching the product change log")
        ProductFactory(title="Watched shirt", image_url="")
        line = worker.stdout.readline()  # blocks until the worker has delivered it
        assert line.startswith("Synced 1 product: 1 embedded")
        assert pending_count() == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
    assert worker.returncode == 0, err
    assert out.strip().endswith("Stopped.")
    settings.QDRANT = {"PATH": path}  # now that the worker let go of the store
    assert set(points(get_qdrant_client(), qdrant_config().collection)) == {
        str(p.pk) for p in Product.objects.all()
    }
    reset_qdrant_clients()


def test_a_batch_crosses_a_pipe_whole():
    # What the preparing process sends: vectors as one matrix on the way, the same after.
    import pickle
    import uuid

    import numpy as np

    from vectors.embedders import EmbedFailure
    from vectors.sync import Batch
    from vectors.sync_queue import Claim

    ids = [uuid.uuid4() for _ in range(3)]
    vectors = {ids[0]: np.arange(4, dtype=np.float32), ids[1]: EmbedFailure("no words")}
    vectors[ids[2]] = np.ones(4, dtype=np.float32)
    batch = Batch(uuid.uuid4(), [Claim(7, True, 0, ids)], 1.5, vectors=vectors)
    assert batch.to_embed == set(ids)  # cached: not sent
    payloads = {pid: {"product_id": str(pid)} for pid in ids}
    batch.payloads = payloads
    arrived = pickle.loads(pickle.dumps(batch))  # noqa: S301 - our own bytes
    assert "to_embed" not in vars(arrived) and arrived.ids == ids
    assert set(arrived.vectors) == set(ids) and arrived.vectors[ids[1]] == vectors[ids[1]]
    for pid in (ids[0], ids[2]):
        assert arrived.vectors[pid].tolist() == vectors[pid].tolist()
    assert (arrived.lease, arrived.claims) == (batch.lease, batch.claims)
    assert arrived.payloads == payloads
