import itertools
from decimal import Decimal

import pytest

from catalog.models import Product

_external_ids = itertools.count(1)


@pytest.fixture
def make_product(db):
    """Save a valid product; keyword arguments override any field."""

    def make(**fields) -> Product:
        values = {
            "store_id": "shop-a",
            "external_id": f"sku-{next(_external_ids)}",
            "title": "Linen shirt",
            "price": Decimal("49.90"),
            "currency": "EUR",
            "image_url": "https://shop-a.example/img/shirt.jpg",
            "product_url": "https://shop-a.example/p/shirt",
        } | fields
        return Product.objects.create(**values)

    return make


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the test item (the browser test screenshots failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
