import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.vectors.helpers import make_collection
from tests.vectors.qdrant_standin import QdrantStandIn
from vectors.client import (
    GuardedClient,
    get_async_qdrant_client,
    get_qdrant_client,
    models,
    reset_qdrant_clients,
)
from vectors.exceptions import CollectionNotFound


def test_the_client_is_cached(qdrant):
    assert get_qdrant_client() is qdrant
    assert isinstance(qdrant, GuardedClient) and qdrant.engine.in_process


def test_changing_the_settings_gives_a_new_client(qdrant, settings):
    settings.QDRANT = settings.QDRANT | {"COLLECTION": "other"}
    assert get_qdrant_client() is not qdrant


def test_embedded_writes_from_many_threads_all_land(tmp_path, settings):
    # Writes from many threads are serialised by the client (Qdrant Edge's shards are
    # opened lazily and its alias map is shared): none may be lost.
    settings.QDRANT = {"PATH": str(tmp_path / "q")}
    qdrant = get_qdrant_client()
    make_collection(qdrant, "products", size=4)

    def write(worker: int) -> None:
        for i in range(50):
            qdrant.upsert(
                collection_name="products",
                points=[
                    models.PointStruct(id=worker * 10_000 + i * 10 + j, vector=[1.0, worker, i, j])
                    for j in range(5)
                ],
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(8)))
    assert qdrant.count("products").count == 2000
    reset_qdrant_clients()
    assert get_qdrant_client().count("products").count == 2000


def test_a_missing_collection_is_collection_not_found(qdrant, config):
    with pytest.raises(CollectionNotFound, match=re.escape(config.label)):
        qdrant.get_collection("nope")


def test_closing_releases_the_embedded_store(tmp_path, settings):
    settings.QDRANT = {"PATH": str(tmp_path / "q"), "TIMEOUT": "1"}
    first = get_qdrant_client()
    make_collection(first, "products", size=4)
    reset_qdrant_clients()
    # Local mode locks the folder per open file: a store that was not closed stays locked.
    second = get_qdrant_client()
    assert second is not first
    assert second.collection_exists("products")


def test_async_client_shares_the_embedded_store(qdrant):
    make_collection(qdrant, "products", size=4)

    async def names() -> list[str]:
        response = await get_async_qdrant_client().get_collections()
        return [c.name for c in response.collections]

    assert asyncio.run(names()) == ["products"]


def test_async_client_for_a_server_translates_errors(settings):
    with QdrantStandIn() as server:
        settings.QDRANT = {"URL": server.url}

        async def missing():
            return await get_async_qdrant_client().get_collection("nope")

        with pytest.raises(CollectionNotFound, match="doesn't exist"):
            asyncio.run(missing())
