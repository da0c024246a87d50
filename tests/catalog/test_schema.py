"""The product table as PostgreSQL sees it: types, defaults, indexes and constraints."""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction

from catalog.models import Product

pytestmark = pytest.mark.django_db

VALID_ROW = {
    "store_id": "shop-a",
    "external_id": "raw-1",
    "title": "Wool coat",
    "price": "120.00",
    "product_url": "https://shop-a.example/p/coat",
}


def insert_raw(**overrides) -> tuple:
    """INSERT with plain SQL, the way another service or COPY would, returning the row."""
    row = VALID_ROW | overrides
    columns = ", ".join(row)
    placeholders = ", ".join(["%s"] * len(row))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO catalog_product ({columns}) VALUES ({placeholders}) "
            "RETURNING id, currency, description, image_url, created_at, updated_at",
            list(row.values()),
        )
        return cursor.fetchone()


def test_uuid_ossp_extension_is_installed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'uuid-ossp'")
        assert cursor.fetchone() == (1,)


def test_columns_have_the_specified_types_and_nullability():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT column_name, data_type, character_maximum_length,
                   numeric_precision, numeric_scale, is_nullable
            FROM information_schema.columns
            WHERE table_name = 'catalog_product'
            """
        )
        columns = {name: rest for name, *rest in cursor.fetchall()}
    assert columns == {
        "id": ["uuid", None, None, None, "NO"],
        "external_id": ["character varying", 255, None, None, "NO"],
        "store_id": ["character varying", 100, None, None, "NO"],
        "title": ["character varying", 500, None, None, "NO"],
        "description": ["text", None, None, None, "NO"],
        "price": ["numeric", None, 10, 2, "NO"],
        "currency": ["character varying", 3, None, None, "NO"],
        "image_url": ["character varying", 2048, None, None, "NO"],
        "product_url": ["character varying", 2048, None, None, "NO"],
        "created_at": ["timestamp with time zone", None, None, None, "NO"],
        "updated_at": ["timestamp with time zone", None, None, None, "NO"],
    }


def test_id_defaults_to_uuid_generate_v4():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_default FROM information_schema.columns "
            "WHERE table_name = 'catalog_product' AND column_name = 'id'"
        )
        assert cursor.fetchone() == ("uuid_generate_v4()",)


def test_raw_insert_without_id_gets_a_uuid_and_the_other_defaults():
    row_id, currency, description, image_url, created_at, updated_at = insert_raw()
    assert isinstance(row_id, uuid.UUID) and row_id.version == 4
    assert (currency, description, image_url) == ("USD", "", "")
    assert created_at is not None and created_at == updated_at
    assert Product.objects.get(pk=row_id).title == "Wool coat"


def test_two_raw_inserts_get_different_ids():
    first = insert_raw(external_id="raw-1")[0]
    second = insert_raw(external_id="raw-2")[0]
    assert first != second


def test_orm_creates_get_a_python_uuid(make_product):
    product = make_product()
    assert isinstance(product.pk, uuid.UUID)
    assert Product.objects.filter(pk=product.pk).exists()


def test_named_indexes_serve_lookups_admin_search_filters_and_ordering():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'catalog_product'"
        )
        indexes = {name: definition.split(" USING ")[1] for name, definition in cursor.fetchall()}
    assert indexes == {
        "catalog_product_pkey": "btree (id)",
        "catalog_product_store_external_uniq": "btree (external_id, store_id)",
        "catalog_prod_external_id_idx": "btree (upper((external_id)::text))",
        "catalog_prod_title_trgm_idx": "gin (upper((title)::text) gin_trgm_ops)",
        "catalog_prod_store_id_idx": "btree (store_id, created_at, id)",
        "catalog_prod_currency_idx": "btree (currency)",
        "catalog_prod_created_at_idx": "btree (created_at, id)",
        "catalog_prod_price_idx": "btree (price)",
        "catalog_prod_no_image_idx": "btree (id) WHERE ((image_url)::text = ''::text)",
    }


def test_pg_trgm_extension_is_installed():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone() == (1,)


def test_constraints_are_named_in_the_database():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, contype FROM pg_constraint "
            "WHERE conrelid = 'catalog_product'::regclass"
        )
        constraints = dict(cursor.fetchall())
    assert constraints == {
        "catalog_product_pkey": "p",
        "catalog_product_store_external_uniq": "u",
        "catalog_product_price_non_negative": "c",
        "catalog_product_currency_iso": "c",
        "catalog_product_title_not_blank": "c",
        "catalog_product_external_id_not_blank": "c",
        "catalog_product_store_id_not_blank": "c",
        "catalog_product_image_url_http": "c",
        "catalog_product_product_url_http": "c",
    }


def test_same_external_id_twice_in_one_store_is_rejected(make_product):
    make_product(store_id="shop-a", external_id="42")
    with (
        pytest.raises(IntegrityError, match="catalog_product_store_external_uniq"),
        transaction.atomic(),
    ):
        make_product(store_id="shop-a", external_id="42")


def test_same_external_id_in_two_stores_is_allowed(make_product):
    make_product(store_id="shop-a", external_id="42")
    make_product(store_id="shop-b", external_id="42")
    assert Product.objects.filter(external_id="42").count() == 2


@pytest.mark.parametrize(
    ("field", "value", "constraint"),
    [
        ("price", "-0.01", "catalog_product_price_non_negative"),
        ("currency", "usd", "catalog_product_currency_iso"),
        ("currency", "US", "catalog_product_currency_iso"),
        ("currency", "U$D", "catalog_product_currency_iso"),
        ("title", "   ", "catalog_product_title_not_blank"),
        ("external_id", "", "catalog_product_external_id_not_blank"),
        ("store_id", "", "catalog_product_store_id_not_blank"),
        ("image_url", "javascript:alert(1)", "catalog_product_image_url_http"),
        ("image_url", "data:image/png;base64,AAAA", "catalog_product_image_url_http"),
        ("product_url", "javascript:alert(1)", "catalog_product_product_url_http"),
        ("product_url", "ftp://shop.example/p", "catalog_product_product_url_http"),
        ("product_url", "", "catalog_product_product_url_http"),
    ],
)
def test_check_constraints_reject_bad_raw_rows(field, value, constraint):
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        insert_raw(**{field: value})


def test_price_beyond_numeric_10_2_is_rejected():
    from django.db import DataError

    with pytest.raises(DataError), transaction.atomic():
        insert_raw(price="100000000.00")


def test_upper_case_scheme_is_a_valid_url():
    insert_raw(product_url="HTTPS://shop-a.example/p/coat", image_url="HTTP://cdn.example/a.jpg")


def test_queryset_update_refreshes_updated_at(make_product):
    product = make_product()
    Product.objects.filter(pk=product.pk).update(price="10.00")
    product_after = Product.objects.get(pk=product.pk)
    assert product_after.updated_at > product.updated_at
    assert product_after.created_at == product.created_at


def test_update_that_changes_nothing_keeps_updated_at(make_product):
    product = make_product()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_product SET title = title WHERE id = %s", [product.pk])
    assert Product.objects.get(pk=product.pk).updated_at == product.updated_at


def test_save_sets_updated_at_and_keeps_created_at(make_product):
    product = make_product()
    created, updated = product.created_at, product.updated_at
    product.title = "Linen shirt, blue"
    product.save()
    product.refresh_from_db()
    assert product.created_at == created
    assert product.updated_at > updated


@pytest.mark.django_db
def test_a_lookup_by_external_id_across_stores_uses_an_index():
    from django.db import connection

    from catalog.models import Product

    query = str(Product.objects.filter(external_id="sku-1").only("id").query)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: ask what it *can* use
        cursor.execute("EXPLAIN " + query.replace("= sku-1", "= 'sku-1'"))
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "catalog_product_store_external_uniq" in plan, plan
