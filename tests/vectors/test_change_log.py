"""The triggers that log product writes for the vector sync (vectors/change_log.py)."""

import pytest
from django.core.management import call_command
from django.db import connection

from catalog.models import Product
from vectors.models import ProductChange

pytestmark = pytest.mark.django_db


def logged():
    return [(c.needs_embedding, sorted(c.product_ids)) for c in ProductChange.objects.all()]


def test_inserts_updates_and_deletes_are_logged_per_statement(make_product):
    first, second = make_product(), make_product()
    assert logged() == [(True, [first.pk]), (True, [second.pk])]
    ProductChange.objects.all().delete()

    Product.objects.update(price="1.00")  # one statement, two products, payload only
    first.title = "Retitled"
    first.save()
    Product.objects.filter(pk=second.pk).delete()
    assert logged() == [
        (False, sorted([first.pk, second.pk])),
        (True, [first.pk]),
        (False, [second.pk]),
    ]


def test_writes_that_do_not_touch_the_vector_index_are_not_logged(make_product):
    product = make_product()
    ProductChange.objects.all().delete()
    Product.objects.filter(pk=product.pk).update(product_url="https://shop.example/new")
    Product.objects.filter(pk=product.pk).update(price=product.price)  # no actual change
    assert logged() == []


def test_raw_sql_is_logged_too(make_product):
    product = make_product()
    ProductChange.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET image_url = '' WHERE id = %s", [product.pk])
        cursor.execute("DELETE FROM catalog_product")
    assert logged() == [(True, [product.pk]), (False, [product.pk])]


def test_changing_a_primary_key_logs_a_delete_and_an_insert(make_product):
    import uuid

    product = make_product()
    ProductChange.objects.all().delete()
    new_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET id = %s WHERE id = %s", [new_id, product.pk])
    assert logged() == [(False, [product.pk]), (True, [new_id])]


def _in_order(needs_embedding: bool) -> list:
    rows = ProductChange.objects.filter(needs_embedding=needs_embedding)
    return [pid for change in rows.order_by("id") for pid in change.product_ids]


def test_a_large_statement_is_logged_in_its_own_row_order():
    """The sync delivers in log order: a statement's rows logged in the order it wrote them
    keep a mass update of Qdrant moving points out of one segment after another (in any
    other order, every segment is copied on write again and again)."""
    created = Product.objects.bulk_create(
        Product(
            store_id="shop-a",
            external_id=f"sku-{k}",
            title=f"Shirt {k}",
            price=10,
            currency="EUR",
            image_url="https://shop-a.example/img.jpg",
            product_url="https://shop-a.example/p",
        )
        for k in range(3_500)
    )
    # One INSERT, its rows in the list's order.
    assert _in_order(True) == [product.pk for product in created]
    ProductChange.objects.all().delete()
    with connection.cursor() as cursor:
        # Every price, and some titles; RETURNING lists the rows in the order written.
        cursor.execute(
            "UPDATE catalog_product SET price = price + 1, "
            "title = CASE WHEN external_id ~ '[0369]$' THEN title || ' new' ELSE title END "
            "RETURNING id, title"
        )
        written = cursor.fetchall()
    renamed = [pid for pid, title in written if title.endswith(" new")]
    assert _in_order(True) == renamed
    assert _in_order(False) == [pid for pid, title in written if pid not in set(renamed)]


def log_rows(table: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, needs_embedding, product_ids, attempts, last_error, changed_at "
            f"FROM {table} ORDER BY id"
        )
        return cursor.fetchall()


def tables() -> set[str]:
    return set(connection.introspection.table_names())


@pytest.mark.django_db(transaction=True)
def test_the_log_moves_between_apps_with_its_queued_rows(make_product):
    """Reversing the move gives the earlier layout (catalog's table, its triggers and status
    function) with every queued row; migrating again takes that table over, rows and all."""
    first, second = make_product(), make_product()
    Product.objects.update(price="3.00")
    ProductChange.objects.filter(pk=ProductChange.objects.first().pk).update(
        attempts=2, last_error="timed out"
    )
    queued = log_rows("vectors_productchange")
    assert len(queued) == 3

    call_command("migrate", "vectors", "0005", verbosity=0)
    try:
        assert "vectors_productchange" not in tables()
        assert log_rows("catalog_productchange") == queued
        # The earlier layout works: its triggers log, its status function answers.
        third = make_product()
        with connection.cursor() as cursor:
            cursor.execute("SELECT kind, product_ids FROM catalog_productchange ORDER BY id DESC")
            assert cursor.fetchone() == ("update", [third.pk])
            cursor.execute("SELECT catalog_product_sync_status(%s)", [first.pk])
            assert cursor.fetchone() == (2,)
            cursor.execute("SELECT to_regproc('public._pgtrigger_should_ignore')")
            assert cursor.fetchone() == (None,)  # nothing of django-pgtrigger's left
    finally:
        call_command("migrate", "vectors", verbosity=0)

    assert "catalog_productchange" not in tables()
    moved = log_rows("vectors_productchange")
    assert moved[:3] == queued and moved[3][2] == [third.pk]
    Product.objects.filter(pk=second.pk).update(title="Renamed")
    assert ProductChange.objects.last().product_ids == [second.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT vectors_product_sync_status(%s)", [first.pk])
        assert cursor.fetchone() == (2,)
