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
    call_command("migrate", verbosity=0)  # the vectors app's migrations that catalog's took


@pytest.mark.django_db(transaction=True)
def test_migration_recreates_a_dropped_extension():
    call_command("migrate", "catalog", "zero", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute('DROP EXTENSION "uuid-ossp"')
    call_command("migrate", verbosity=0)
    assert extension_installed()


@pytest.mark.django_db
def test_models_and_migrations_agree():
    # Exits non-zero (SystemExit) when a model change has no migration; with django-pgtrigger,
    # a change to the change log's triggers (vectors/change_log.py) too.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
