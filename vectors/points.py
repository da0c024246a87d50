"""Products as Qdrant points: point id = product UUID, payload = what filters need."""

from __future__ import annotations

from typing import Any

from vectors.embedders import ProductInput

# The product columns the vector index needs, read in one query.
PRODUCT_FIELDS = ("id", "store_id", "title", "description", "price", "image_url", "created_at")


def payload_of(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "product_id": str(row["id"]),
        "store_id": row["store_id"],
        "price": float(row["price"]),
        "created_at": row["created_at"].isoformat(),
    }


def embedder_input(row: dict[str, Any]) -> ProductInput:
    return ProductInput(
        id=str(row["id"]),
        title=row["title"],
        description=row["description"],
        image_url=row["image_url"],
    )
