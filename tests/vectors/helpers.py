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
