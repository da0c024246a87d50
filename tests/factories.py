"""The tests' one product factory (factory_boy): a valid product, any field overridden.

ProductFactory()                      # saved
ProductFactory.build(title="Coat")    # not saved
create_products(8_000, store_id="a")  # one INSERT statement, as an import writes
"""

from decimal import Decimal

import factory

from catalog.models import Product


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    store_id = "shop-a"
    external_id = factory.Sequence(lambda n: f"sku-{n + 1}")
    title = "Linen shirt"
    price = Decimal("49.90")
    currency = "EUR"
    image_url = "https://shop-a.example/img/shirt.jpg"
    product_url = "https://shop-a.example/p/shirt"


def create_products(count: int, **fields) -> list[Product]:
    """`count` products in one statement; titles, prices and images vary (so their vectors
    do) unless given."""
    varying = {
        "title": factory.Sequence(lambda n: f"Linen shirt no. {n} in colour {n % 97}"),
        "price": factory.Sequence(lambda n: Decimal(10 + n % 200)),
        "image_url": factory.Sequence(lambda n: f"https://shop-a.example/img/{n}.jpg"),
    }
    return Product.objects.bulk_create(ProductFactory.build_batch(count, **(varying | fields)))
