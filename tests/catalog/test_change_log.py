"""The triggers that log product writes for the vector sync (migration 0002)."""

import pytest
from django.db import connection

from catalog.models import Product, ProductChange

pytestmark = pytest.mark.django_db


def logged():
    return [(c.kind, c.needs_embedding, sorted(c.product_ids)) for c in ProductChange.objects.all()]


def test_inserts_updates_and_deletes_are_logged_per_statement(make_product):
    first, second = make_product(), make_product()
    assert logged() == [("insert", True, [first.pk]), ("insert", True, [second.pk])]
    ProductChange.objects.all().delete()

    Product.objects.update(price="1.00")  # one statement, two products, payload only
    first.title = "Retitled"
    first.save()
    Product.objects.filter(pk=second.pk).delete()
    assert logged() == [
        ("update", False, sorted([first.pk, second.pk])),
        ("update", True, [first.pk]),
        ("delete", False, [second.pk]),
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
    assert logged() == [("update", True, [product.pk]), ("delete", False, [product.pk])]


def test_changing_a_primary_key_logs_a_delete_and_an_insert(make_product):
    import uuid

    product = make_product()
    ProductChange.objects.all().delete()
    new_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET id = %s WHERE id = %s", [new_id, product.pk])
    assert logged() == [("delete", False, [product.pk]), ("insert", True, [new_id])]


def store_counts():
    from catalog.models import Store

    return {s.store_id: s.product_count for s in Store.objects.all()}


def test_store_counts_follow_every_kind_of_write(make_product):
    a1, a2, b1 = make_product(store_id="a"), make_product(store_id="a"), make_product(store_id="b")
    assert store_counts() == {"a": 2, "b": 1}
    Product.objects.filter(pk=a1.pk).update(store_id="b", price="1.00")
    Product.objects.filter(pk=b1.pk).update(price="2.00")  # same store: no change
    assert store_counts() == {"a": 1, "b": 2}
    Product.objects.filter(store_id="b").delete()
    assert store_counts() == {"a": 1}
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product")
    assert store_counts() == {}
    assert a2.pk  # created before the truncate


def test_store_counts_follow_imports(tmp_path):
    import json
    from io import StringIO

    from django.core.management import call_command

    feed = tmp_path / "feed.jsonl"
    feed.write_text(
        "\n".join(
            json.dumps(
                {
                    "external_id": str(i),
                    "title": f"t{i}",
                    "price": "1",
                    "product_url": "https://s.example/p",
                }
            )
            for i in range(25)
        )
    )
    call_command(
        "import_products",
        str(feed),
        "--store",
        "imp",
        "--batch-size",
        "10",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert store_counts() == {"imp": 25}
    feed.write_text(
        json.dumps(
            {"external_id": "0", "title": "t0", "price": "1", "product_url": "https://s.example/p"}
        )
    )
    call_command(
        "import_products",
        str(feed),
        "--store",
        "imp",
        "--prune",
        stdout=StringIO(),
        stderr=StringIO(),
    )
    assert store_counts() == {"imp": 1}


def _in_order(kind: str, needs_embedding: bool) -> list:
    rows = ProductChange.objects.filter(kind=kind, needs_embedding=needs_embedding)
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
    assert _in_order("insert", True) == [product.pk for product in created]
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
    assert _in_order("update", True) == renamed
    assert _in_order("update", False) == [pid for pid, title in written if pid not in set(renamed)]
