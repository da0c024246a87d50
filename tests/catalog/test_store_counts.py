"""catalog_store: each store's product count, kept by triggers on every kind of write."""

import pytest
from django.db import connection

from catalog.models import Product

pytestmark = pytest.mark.django_db


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
