"""What a point holds is defined once (vectors/points.py), and the change-log triggers watch
exactly that: a change to any column the point is built from is logged for the sync, a
change to anything else is not."""

from decimal import Decimal

import pytest
from django.db import connection

from catalog.models import Product
from vectors.client import get_qdrant_client
from vectors.collection import collection_ensure
from vectors.conf import qdrant_config
from vectors.models import ProductChange
from vectors.points import (
    EMBEDDING_COLUMNS,
    PAYLOAD,
    PAYLOAD_COLUMNS,
    PRICE_SPAN,
    price_key,
)

pytestmark = pytest.mark.django_db

NEW_VALUES = {
    "external_id": "'other-sku'",
    "store_id": "'other-store'",
    "title": "'Another title'",
    "description": "'Another description'",
    "price": "price + 1",
    "currency": "'JPY'",
    "image_url": "'https://cdn.example/other.jpg'",
    "product_url": "'https://shop.example/other'",
    "created_at": "created_at - interval '1 day'",
    "updated_at": "updated_at - interval '1 day'",
}


def logged_by_changing(column: str, make_product) -> bool:
    product = make_product()
    ProductChange.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE catalog_product SET {column} = {NEW_VALUES[column]} WHERE id = %s",
            [product.pk],
        )
    return ProductChange.objects.exists()


def test_the_triggers_watch_exactly_the_columns_a_point_is_built_from(make_product):
    columns = {f.column for f in Product._meta.get_fields() if f.concrete} - {"id"}
    assert set(NEW_VALUES) == columns, "a new Product field: say here how to change it"
    watched = {column for column in sorted(columns) if logged_by_changing(column, make_product)}
    assert watched == (set(PAYLOAD_COLUMNS) | set(EMBEDDING_COLUMNS)) - {"id"}


def test_a_new_collection_indexes_every_payload_field_as_defined(tmp_path, settings):
    """On Qdrant Edge, which keeps payload indexes (the in-memory stand-in keeps none)."""
    settings.QDRANT = {"PATH": str(tmp_path / "qdrant")}
    client = get_qdrant_client()
    collection_ensure(client=client, config=qdrant_config())
    schema = client.get_collection("products").payload_schema
    wanted = {field.name: field.index for field in PAYLOAD if field.index is not None}
    assert set(schema) == set(wanted)
    for name, index in wanted.items():
        kind = getattr(index, "type", index)  # a schema type, or params that name one
        assert schema[name].data_type.value == getattr(kind, "value", kind), name


def test_each_currency_keeps_its_prices_on_its_own_stretch_of_the_price_key():
    """Price filters are one range on price_key: a currency's prices never reach another's,
    and prices a cent apart keep apart and in order even at the top of the scale."""
    highest = Decimal("99999999.99")  # numeric(10,2)
    assert price_key(highest, "EUR") < price_key(0, "EUS") < price_key(0, "GBP")
    for currency in ("AAA", "EUR", "ZZZ"):
        keys = [price_key(Decimal(p), currency) for p in ("0", "0.01", "19.89", "19.90", "19.91")]
        assert keys == sorted(set(keys))
        top = [price_key(highest - Decimal("0.01"), currency), price_key(highest, currency)]
        assert top[0] < top[1] < price_key(0, currency) + float(PRICE_SPAN)
