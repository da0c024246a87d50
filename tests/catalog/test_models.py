from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from catalog.models import Product
from catalog.validators import is_http_url
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def build(**fields) -> Product:
    return ProductFactory.build(**fields)


def error_fields(product: Product) -> set[str]:
    with pytest.raises(ValidationError) as excinfo:
        product.full_clean()
    return set(excinfo.value.message_dict)


def test_a_valid_product_passes_full_clean():
    build().full_clean()


def test_image_url_may_be_empty():
    build(image_url="").full_clean()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("image_url", "javascript:alert(1)"),
        ("image_url", "ftp://shop-a.example/a.jpg"),
        ("image_url", "not a url"),
        ("product_url", "javascript:alert(document.cookie)"),
        ("product_url", "data:text/html,<script>alert(1)</script>"),
        ("product_url", ""),
        ("currency", "usd"),
        ("currency", "EURO"),
        ("currency", "E1R"),
        ("price", Decimal("-1")),
        ("price", Decimal("123456789.00")),
        ("price", Decimal("1.001")),
        ("title", ""),
        ("external_id", ""),
        ("store_id", ""),
    ],
)
def test_bad_values_are_reported_on_their_field(field, value):
    assert error_fields(build(**{field: value})) == {field}


def test_duplicate_store_and_external_id_is_a_validation_error(make_product):
    make_product(store_id="shop-a", external_id="sku-1")
    with pytest.raises(ValidationError, match="already exists"):
        build(store_id="shop-a", external_id="sku-1").full_clean()


def test_str_names_title_store_and_external_id():
    assert str(build(external_id="sku-1")) == "Linen shirt (shop-a/sku-1)"


def test_default_ordering_is_newest_first(make_product):
    first = make_product()
    second = make_product()
    assert list(Product.objects.all()) == [second, first]


def test_currency_defaults_to_usd():
    assert Product().currency == "USD"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.example/a.jpg", True),
        ("HTTP://shop.example/a.jpg", True),
        ("javascript:alert(1)", False),
        ("//shop.example/a.jpg", False),
        ("https://", False),
        ("", False),
        (None, False),
        ("http://[::1", False),
    ],
)
def test_is_http_url(url, expected):
    assert is_http_url(url) is expected
