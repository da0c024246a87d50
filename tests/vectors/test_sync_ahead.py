"""The sync with a second process preparing the next batch (vectors.preparer): same result
as one process, failures narrowed the same way, nothing left leased when it stops early."""

import os

import pytest

from catalog.models import Product
from tests.factories import create_products
from tests.vectors.helpers import expected_points, points
from vectors.collection import collection_ensure
from vectors.conf import Engine
from vectors.embedders import get_embedder
from vectors.exceptions import VectorStoreUnavailable
from vectors.models import DuplicateCheck, ProductChange
from vectors.preparer import PreparerFailed
from vectors.sync import sync_pending
from vectors.sync_queue import MAX_ATTEMPTS

# The preparing process reads what the test wrote: committed data, not a test transaction.
pytestmark = pytest.mark.django_db(transaction=True)


class ForkSafeEmbedder:
    """The real embedder, noting which processes embedded which products (in a file: the
    preparing process's memory is its own) and failing on products titled `poison`."""

    fork_safe = True

    def __init__(self, log_path, *, poison: str = "", exit_code: int | None = None):
        self.inner = get_embedder()
        self.name, self.dimension = self.inner.name, self.inner.dimension
        self.log_path, self.poison, self.exit_code = log_path, poison, exit_code

    def embed(self, products):
        with open(self.log_path, "a") as log:
            log.writelines(f"{os.getpid()} {product.id}\n" for product in products)
        if self.exit_code is not None and os.getpid() != self.parent:
            os._exit(self.exit_code)  # the preparing process dies
        if self.poison and any(self.poison in product.title for product in products):
            raise RuntimeError(f"cannot embed {self.poison}")
        return self.inner.embed(products)

    def embedded_by(self) -> dict[str, set[int]]:
        by: dict[str, set[int]] = {}
        for line in self.log_path.read_text().splitlines():
            pid, product = line.split()
            by.setdefault(product, set()).add(int(pid))
        return by


@pytest.fixture
def collection(qdrant, config):
    collection_ensure(client=qdrant, config=config)
    return config.collection


@pytest.fixture
def embedder(collection, tmp_path):
    embedder = ForkSafeEmbedder(tmp_path / "embedded.log")
    embedder.parent = os.getpid()
    return embedder


def sync_ahead(qdrant, config, embedder, *, batch_size=4, **options):
    return sync_pending(
        client=qdrant,
        config=config,
        embedder=embedder,
        batch_size=batch_size,
        ahead_from=0,
        **options,
    )


def test_the_preparing_process_embeds_and_the_result_is_the_same(
    qdrant, config, collection, embedder, make_product
):
    products = [make_product(title=f"Linen shirt {k}") for k in range(30)]
    report = sync_ahead(qdrant, config, embedder)
    assert (report.embedded, report.failed, report.batches) == (30, {}, 8)
    assert points(qdrant, collection) == expected_points()
    assert not ProductChange.objects.exists()
    by = embedder.embedded_by()
    assert set(by) == {str(p.pk) for p in products}
    assert all(pids == {pid for pid in pids if pid != os.getpid()} for pids in by.values())


def test_a_product_the_preparing_process_cannot_embed_crosses_over_as_its_failure(
    qdrant, config, collection, embedder, make_product
):
    # Its EmbedFailure travels beside the batch's vectors (pickled as one matrix).
    good = [make_product(title=f"Linen shirt {k}") for k in range(6)]
    wordless = make_product(title="!!!", description="")
    report = sync_ahead(qdrant, config, embedder)
    assert report.embedded == 6
    assert report.failed == {str(wordless.pk): "no words in title or description"}
    expected = expected_points()  # payloads as one process writes them
    del expected[str(wordless.pk)]
    assert points(qdrant, collection) == expected
    assert len(expected) == len(good)


def test_a_failing_product_is_narrowed_down_and_the_rest_delivered(
    qdrant, config, collection, embedder, make_product
):
    embedder.poison = "poison"
    good = [make_product(title=f"Linen shirt {k}") for k in range(9)]
    bad = make_product(title="Silk poison scarf")
    report = sync_ahead(qdrant, config, embedder)
    assert report.embedded == 9
    assert list(report.failed) == [str(bad.pk)]
    assert "cannot embed poison" in report.failed[str(bad.pk)]
    assert set(points(qdrant, collection)) == {str(p.pk) for p in good}
    queued = ProductChange.objects.get()
    assert (queued.product_ids, queued.attempts) == ([bad.pk], 1)


def test_stopping_gives_back_the_batch_prepared_ahead(
    qdrant, config, collection, embedder, make_product
):
    for k in range(20):
        make_product(title=f"Linen shirt {k}")
    batches = []
    report = sync_pending(
        client=qdrant,
        config=config,
        embedder=embedder,
        batch_size=4,
        ahead_from=0,
        on_batch=batches.append,
        should_stop=lambda: len(batches) >= 2,
    )
    assert (report.embedded, report.batches) == (8, 2)
    # The third and fourth batches were claimed and prepared while the second was written
    # (PREPARED_AHEAD): they are queued again at once, not held until their leases run out.
    assert not ProductChange.objects.filter(lease__isnull=False).exists()
    assert sum(len(row.product_ids) for row in ProductChange.objects.all()) == 12
    assert sync_ahead(qdrant, config, embedder).embedded == 12
    assert points(qdrant, collection) == expected_points()


def test_each_batch_is_finished_by_the_preparing_process_but_the_last(
    qdrant, config, collection, embedder, make_product, monkeypatch, tmp_path
):
    """The writing process only writes: a batch's PostgreSQL work once it is in Qdrant
    (log rows deleted, duplicate checks queued, totals counted) goes to the preparing
    process with a later request; the last batch, with nothing left to ask for, is
    finished here before the sync returns."""
    from vectors import sync

    log, finish = tmp_path / "finished.log", sync._finish

    def noting_finish(written):
        with open(log, "a") as out:
            out.write(f"{os.getpid()} {written.delivered}\n")
        return finish(written)

    monkeypatch.setattr(sync, "_finish", noting_finish)
    for k in range(20):
        make_product(title=f"Linen shirt {k}")
    report = sync_ahead(qdrant, config, embedder)
    assert (report.embedded, report.batches) == (20, 5)
    finished = [tuple(map(int, line.split())) for line in log.read_text().splitlines()]
    assert sum(delivered for _, delivered in finished) == 20
    assert sorted(pid == os.getpid() for pid, _ in finished) == [False] * 4 + [True]
    assert not ProductChange.objects.exists()
    assert DuplicateCheck.objects.count() == 20
    assert points(qdrant, collection) == expected_points()


def test_a_failure_set_aside_by_the_preparing_process_is_counted(
    qdrant, config, collection, embedder, make_product
):
    embedder.poison = "poison"
    bad = make_product(title="Silk poison scarf")  # first claimed: finished over there
    for k in range(9):
        make_product(title=f"Linen shirt {k}")
    ProductChange.objects.update(attempts=MAX_ATTEMPTS - 1)
    report = sync_ahead(qdrant, config, embedder, batch_size=2)
    assert (report.embedded, list(report.failed), report.set_aside) == (9, [str(bad.pk)], 1)
    (change,) = ProductChange.objects.all()
    assert change.product_ids == [bad.pk] and change.set_aside_at is not None


def test_an_outage_while_writing_leaves_every_batch_queued_and_unleased(
    qdrant, config, collection, embedder, make_product, monkeypatch
):
    for k in range(12):
        make_product(title=f"Linen shirt {k}")
    upsert, calls = qdrant.upsert, []

    def failing_upsert(**kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise VectorStoreUnavailable("Qdrant went away")
        return upsert(**kwargs)

    monkeypatch.setattr(qdrant, "upsert", failing_upsert)
    with pytest.raises(VectorStoreUnavailable):
        sync_ahead(qdrant, config, embedder)
    assert not ProductChange.objects.filter(lease__isnull=False).exists()
    assert sum(len(row.product_ids) for row in ProductChange.objects.all()) == 8
    monkeypatch.setattr(qdrant, "upsert", upsert)
    assert sync_ahead(qdrant, config, embedder).embedded == 8
    assert points(qdrant, collection) == expected_points()


def test_a_preparing_process_that_dies_is_an_error_and_nothing_is_lost(
    qdrant, config, collection, embedder, make_product
):
    for k in range(6):
        make_product(title=f"Linen shirt {k}")
    embedder.exit_code = 3
    with pytest.raises(PreparerFailed, match=r"died \(exit code 3\)"):
        sync_ahead(qdrant, config, embedder)
    # Its batch stays claimed until the lease runs out; then it is delivered.
    ProductChange.objects.update(lease=None, leased_until=None)
    embedder.exit_code = None
    assert sync_ahead(qdrant, config, embedder).embedded == 6
    assert Product.objects.count() == len(points(qdrant, collection))


def test_sync_vectors_prepares_ahead_when_enough_is_waiting(
    qdrant, config, collection, make_product, monkeypatch, tmp_path
):
    from django.core.management import call_command

    from vectors.embedders.hashing import HashingTextEmbedder
    from vectors.sync import AHEAD_MIN_BATCHES

    log, embed = tmp_path / "pids.log", HashingTextEmbedder.embed

    def noting_embed(self, products):
        with open(log, "a") as out:
            out.write(f"{os.getpid()}\n")
        return embed(self, products)

    monkeypatch.setattr(HashingTextEmbedder, "embed", noting_embed)
    for k in range(AHEAD_MIN_BATCHES * 2):
        make_product(title=f"Linen shirt {k}")
    call_command("sync_vectors", "--batch-size", "2", "--no-optimize", verbosity=0)
    assert points(qdrant, collection) == expected_points()
    assert not ProductChange.objects.exists()
    assert {int(pid) for pid in log.read_text().split()} - {os.getpid()}


def test_a_whole_catalog_queued_by_the_sync_itself_is_prepared_ahead_too(
    qdrant, config, collection, make_product, monkeypatch, tmp_path
):
    # A new collection (recreated, a new store, a move to a server): the sync queues every
    # product itself, after sync_vectors counted what was waiting (nothing).
    from io import StringIO

    from django.core.management import call_command

    from config.progress import Progress
    from vectors.embedders.hashing import HashingTextEmbedder
    from vectors.sync import AHEAD_MIN_BATCHES

    for k in range(AHEAD_MIN_BATCHES * 2):
        make_product(title=f"Linen shirt {k}")
    call_command("sync_vectors", "--no-optimize", "--no-duplicates", verbosity=0)
    collection_ensure(client=qdrant, config=config, recreate=True)
    log, embed = tmp_path / "pids.log", HashingTextEmbedder.embed

    def noting_embed(self, products):
        with open(log, "a") as out:
            out.write(f"{os.getpid()}\n")
        return embed(self, products)

    monkeypatch.setattr(HashingTextEmbedder, "embed", noting_embed)
    fractions, update = [], Progress.update

    def noting_update(self, done, fraction=None, detail=""):
        fractions.append(fraction)
        update(self, done, fraction, detail)

    monkeypatch.setattr(Progress, "update", noting_update)
    call_command("sync_vectors", "--batch-size", "2", "--no-optimize", stdout=StringIO())
    assert points(qdrant, collection) == expected_points()
    assert {int(pid) for pid in log.read_text().split()} - {os.getpid()}
    assert fractions[-1] == 1.0  # of the products the sync queued itself


def test_an_index_build_mid_sync_reopens_the_store_beside_the_preparing_process(
    qdrant, config, collection, embedder
):
    """The embedded store is closed and opened again after each build. The preparing
    process, forked while the store was open, lets go of its copies of the store's files:
    holding them would hold the store's lock, and the reopening would fail as "in use"."""
    if qdrant.engine is not Engine.EDGE:
        pytest.skip("only the embedded engine builds its index in the sync")
    create_products(8_000)
    qdrant.count(collection)  # the store is open when the preparing process is forked
    built = []
    report = sync_ahead(
        qdrant,
        config,
        embedder,
        batch_size=500,
        index_every=7_000,  # above the indexing threshold: one build, at 7,000 written
        on_index=built.append,
    )
    assert (report.embedded, report.failed, len(built)) == (8_000, {}, 1)
    info = qdrant.get_collection(collection)
    assert info.points_count == 8_000
    assert 7_000 <= info.indexed_vectors_count < 8_000
    assert any(pid != os.getpid() for pids in embedder.embedded_by().values() for pid in pids)
