from vectors.client import models


def make_collection(client, name: str, *, size: int = 768, distance: str = "Cosine") -> None:
    client.create_collection(
        collection_name=name,
        vectors_config=models.VectorParams(size=size, distance=models.Distance(distance)),
    )


def add_points(client, name: str, count: int, *, size: int = 768) -> None:
    client.upsert(
        collection_name=name,
        points=[
            models.PointStruct(id=i + 1, vector=[float(i + 1)] + [0.5] * (size - 1))
            for i in range(count)
        ],
    )


def create_alias(client, alias: str, collection: str) -> None:
    client.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=alias)
            )
        ]
    )


def create_shirts(count: int) -> None:
    """`count` products of one shop in one statement, enough to pass the embedded engine's
    indexing threshold (a few thousand 768-d vectors); titles vary so that vectors do."""
    from catalog.models import Product

    Product.objects.bulk_create(
        Product(
            store_id="shop-a",
            external_id=f"sku-{k}",
            title=f"Linen shirt no. {k} in colour {k % 97}",
            price=10 + k % 200,
            currency="EUR",
            image_url=f"https://shop-a.example/img/{k}.jpg",
            product_url=f"https://shop-a.example/p/{k}",
        )
        for k in range(count)
    )
