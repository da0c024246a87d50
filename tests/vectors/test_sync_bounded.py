"""The sync cannot be wedged: one statement over many products becomes bounded
work, a product that keeps failing is set aside while everything behind it flows."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from catalog.models import Product
from vectors import point_writer
from vectors import sync as sync_module
from vectors.admin import PENDING_ATTEMPTS
from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.models import ProductChange
from vectors.sync import sync_pending
from vectors.sync_queue import MAX_ATTEMPTS, pending_count, retry_set_aside, set_aside_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def collection(qdrant, config):
    collection_ensure(client=qdrant, config=config)
    return config.collection


def insert_products_in_one_statement(n: int, store: str = "bulk") -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO catalog_product (store_id, external_id, title, price, product_url)
               SELECT %s, 'sku-' || i, 'Shirt ' || i, 10, 'https://s.example/' || i
               FROM generate_series(1, %s) AS i""",
            [store, n],
        )


def log_sizes() -> list[int]:
    return sorted(len(c.product_ids) for c in ProductChange.objects.all())


def point_count(qdrant, collection) -> int:
    return qdrant.count(collection_name=collection, exact=True).count


def test_one_statement_over_5000_products_is_logged_and_delivered_in_bounded_pieces(
    qdrant, config, collection
):
    insert_products_in_one_statement(5000)
    assert log_sizes() == [1000] * 5  # not one row of 5,000 ids

    Product.objects.filter(store_id="bulk").update(price=12)  # one UPDATE of all of them
    assert log_sizes() == [1000] * 10

    batches = []
    report = sync_pending(
        client=qdrant,
        config=config,
        embedder=get_embedder(),
        batch_size=256,
        on_batch=lambda total: batches.append(total.products),
    )
    sizes = [b - a for a, b in zip([0, *batches[:-1]], batches, strict=True)]
    assert max(sizes) <= 256
    assert report.embedded == 5000 and report.batches == len(sizes)
    assert point_count(qdrant, collection) == 5000
    assert not ProductChange.objects.exists()


def test_a_row_bigger_than_the_batch_is_split_and_the_rest_put_back(qdrant, config, collection):
    # A row written by an earlier version (or by hand) may hold any number of ids.
    insert_products_in_one_statement(300)
    ids = list(Product.objects.values_list("pk", flat=True))
    ProductChange.objects.all().delete()
    ProductChange.objects.create(needs_embedding=True, product_ids=ids)

    first = sync_module.sync_batch(
        client=qdrant, config=config, embedder=get_embedder(), batch_size=100
    )
    assert first.embedded == 100
    (rest,) = ProductChange.objects.all()
    assert rest.product_ids == ids[100:]
    sync_pending(client=qdrant, config=config, embedder=get_embedder(), batch_size=100)
    assert point_count(qdrant, collection) == 300


@pytest.fixture
def poisoned(monkeypatch):
    """Make delivering one chosen product raise, as a bug or an undeliverable row would."""
    real = point_writer.payload_of
    bad = set()

    def payload_of(row):
        if row["id"] in bad:
            raise RuntimeError("cannot build this payload")
        return real(row)

    monkeypatch.setattr(point_writer, "payload_of", payload_of)
    return bad


def test_a_failing_product_does_not_block_the_ones_behind_it(
    qdrant, config, collection, make_product, poisoned
):
    products = [make_product() for _ in range(40)]
    poisoned.add(products[3].pk)
    report = sync_pending(client=qdrant, config=config, embedder=get_embedder(), batch_size=16)
    assert report.embedded == 39
    assert report.failed == {str(products[3].pk): "RuntimeError: cannot build this payload"}
    assert point_count(qdrant, collection) == 39
    (waiting,) = ProductChange.objects.all()
    assert (waiting.product_ids, waiting.attempts) == ([products[3].pk], 1)
    assert waiting.not_before is not None and waiting.set_aside_at is None
    assert "cannot build this payload" in waiting.last_error

    # Later changes are not held up by it (it waits for its retry time).
    later = make_product()
    assert sync_pending(client=qdrant, config=config, embedder=get_embedder()).embedded == 1
    assert point_count(qdrant, collection) == 40 and later.pk not in poisoned


def test_after_max_attempts_a_change_is_set_aside_and_shown(
    qdrant, config, collection, make_product, poisoned
):
    product = make_product()
    poisoned.add(product.pk)
    for _ in range(MAX_ATTEMPTS):
        ProductChange.objects.update(not_before=None)  # its retry time has come
        sync_pending(client=qdrant, config=config, embedder=get_embedder())
    (change,) = ProductChange.objects.all()
    assert change.attempts == MAX_ATTEMPTS and change.set_aside_at is not None
    assert pending_count() == 0 and set_aside_count() == 1

    # Not claimed any more, even when due.
    ProductChange.objects.update(not_before=None)
    assert sync_pending(client=qdrant, config=config, embedder=get_embedder()).products == 0

    # Where an operator sees it: the admin's status column, the sync's summary.
    status = Product.objects.annotate(s=PENDING_ATTEMPTS).get(pk=product.pk).s
    assert status == -1
    err = StringIO()
    call_command("sync_vectors", stdout=StringIO(), stderr=err)
    assert err.getvalue().startswith(
        "1 product set aside after 10 failed sync attempts; once the cause is fixed, run "
        f"manage.py sync_vectors --retry-set-aside. Reasons:\n  {product.pk}: RuntimeError: "
        "cannot build this payload"
    )
    out = StringIO()
    with pytest.raises(CommandError, match="differ in 1 place"):  # its point is missing
        call_command("reconcile_vectors", stdout=out, stderr=StringIO())
    assert "1 product set aside after 10 failed sync attempts" in out.getvalue()

    # Fixed, then retried on request.
    poisoned.clear()
    assert retry_set_aside() == 1
    assert sync_pending(client=qdrant, config=config, embedder=get_embedder()).embedded == 1
    assert not ProductChange.objects.exists()


def test_the_admin_status_reads_bounded_rows(make_product):
    product = make_product()
    insert_products_in_one_statement(2500)
    # Every log row the GIN index can hand the status lookup holds at most MAX_IDS ids.
    assert max(log_sizes()) == ProductChange.MAX_IDS
    statuses = dict(Product.objects.annotate(s=PENDING_ATTEMPTS).values_list("pk", "s"))
    assert set(statuses.values()) == {0}
    assert statuses[product.pk] == 0
