import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import connection


def table_exists(name: str) -> bool:
    return name in connection.introspection.table_names()


def extension_installed() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'uuid-ossp'")
        return cursor.fetchone() is not None


def trigger_function_exists() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_proc WHERE proname = 'catalog_product_touch_updated_at'")
        return cursor.fetchone() is not None


@pytest.mark.django_db(transaction=True)
def test_catalog_migrates_to_zero_and_back_keeping_other_data(make_product):
    Group.objects.create(name="merchandisers")
    make_product()

    call_command("migrate", "catalog", "zero", verbosity=0)
    assert not table_exists("catalog_product")
    assert not trigger_function_exists()
    # Documented choice: the extension is database-wide and stays.
    assert extension_installed()
    assert Group.objects.filter(name="merchandisers").exists()

    call_command("migrate", "catalog", verbosity=0)
    assert table_exists("catalog_product")
    assert trigger_function_exists()
    # The rebuilt table works, raw-SQL default included.
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalog_product (store_id, external_id, title, price, product_url) "
            "VALUES ('s', 'e', 't', 1, 'https://s.example/p') RETURNING id"
        )
        assert cursor.fetchone()[0] is not None
    assert Group.objects.filter(name="merchandisers").exists()


@pytest.mark.django_db(transaction=True)
def test_migration_recreates_a_dropped_extension():
    call_command("migrate", "catalog", "zero", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute('DROP EXTENSION "uuid-ossp"')
    call_command("migrate", "catalog", verbosity=0)
    assert extension_installed()


@pytest.mark.django_db
def test_models_and_migrations_agree():
    # Exits non-zero (SystemExit) when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_0006_splits_change_log_rows_logged_before_it():
    call_command("migrate", "catalog", "0005", verbosity=0)
    with connection.cursor() as cursor:
        # The unbounded triggers of 0002: one statement, one row of 2,500 ids.
        cursor.execute(
            """INSERT INTO catalog_product (store_id, external_id, title, price, product_url)
               SELECT 'old', 'sku-' || i, 'Shirt', 1, 'https://s.example/' || i
               FROM generate_series(1, 2500) AS i"""
        )
        cursor.execute("SELECT array_length(product_ids, 1) FROM catalog_productchange")
        assert cursor.fetchall() == [(2500,)]
        cursor.execute("SELECT product_ids FROM catalog_productchange")
        (before,) = cursor.fetchone()
    call_command("migrate", "catalog", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT product_ids FROM catalog_productchange ORDER BY id")
        after = [row[0] for row in cursor.fetchall()]
    assert [len(ids) for ids in after] == [1000, 1000, 500]
    assert [pid for ids in after for pid in ids] == before  # same ids, same order
