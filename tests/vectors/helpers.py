from catalog.models import Product
from tests.factories import ProductFactory
from vectors.client import models
from vectors.points import price_key


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


def watched_product(external_id: str, title: str) -> Product:
    """A product without an image, in the store "w" that the process tests watch."""
    return ProductFactory(
        store_id="w",
        external_id=external_id,
        title=title,
        price="10.00",
        image_url="",
        product_url=f"https://w.example/{external_id}",
    )


def points(qdrant, collection) -> dict[str, dict]:
    records, offset = {}, None
    while True:
        page, offset = qdrant.scroll(
            collection_name=collection, limit=100, offset=offset, with_payload=True
        )
        records |= {str(p.id): p.payload for p in page}
        if offset is None:
            return records


def expected_points() -> dict[str, dict]:
    return {
        str(p.pk): {
            "product_id": str(p.pk),
            "store_id": p.store_id,
            "price": float(p.price),
            "currency": p.currency,
            "price_key": price_key(p.price, p.currency),
            "created_at": p.created_at.isoformat(),
        }
        for p in Product.objects.all()
    }
