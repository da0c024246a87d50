"""A QDRANT_PATH written by qdrant-client's local mode (the embedded engine before Qdrant
Edge): detected, explained in one line, and rebuilt from PostgreSQL by reindex_vectors."""

import pytest

from tests.factories import ProductFactory
from tests.helpers import run_manage, worker_env
from vectors.client import QdrantClient, models

pytestmark = pytest.mark.django_db(transaction=True)

NOTICE = (
    "QDRANT_PATH also holds vectors written by qdrant-client's local mode, which this version "
    "no longer reads (the embedded engine is now Qdrant Edge). Rebuild them from PostgreSQL "
    "with `manage.py reindex_vectors` (or start afresh with `make clean`)."
)


@pytest.fixture
def old_store(tmp_path):
    """What an earlier version left in var/qdrant: local mode's files, with a point."""
    path = tmp_path / "qdrant"
    old = QdrantClient(path=str(path))
    old.create_collection(
        "products_v1", vectors_config=models.VectorParams(size=768, distance="Cosine")
    )
    old.upsert("products_v1", [models.PointStruct(id=1, vector=[0.1] * 768)])
    old.close()
    assert (path / "meta.json").exists()
    return path


def test_an_old_local_mode_store_is_explained_and_rebuilt(settings, tmp_path, old_store):

    env = worker_env(settings, tmp_path)
    ProductFactory.create_batch(3, title="Old shirt", image_url="")

    synced = run_manage("sync_vectors", env=env)
    assert synced.returncode == 1
    assert synced.stderr.endswith(f"{NOTICE}\n") and synced.stderr.count("\n") == 1
    assert "Traceback" not in synced.stderr

    rebuilt = run_manage("reindex_vectors", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "'products' now points at 'products_v1' (was nothing, kept): 3 products embedded" in (
        rebuilt.stdout
    )
    assert rebuilt.stdout.splitlines()[-2:] == [
        "Removed the vectors left by qdrant-client's local mode.",
        "Duplicate groups were found with the old vectors: run manage.py group_duplicates "
        "--rebuild.",
    ]
    assert not (old_store / "meta.json").exists() and not (old_store / "collection").exists()

    checked = run_manage("ensure_qdrant_collection", "--check", env=env)
    assert checked.returncode == 0 and "(768-dim cosine, 3 points)" in checked.stdout
    assert checked.stderr == ""


def test_ensure_and_the_checks_name_the_one_command(settings, tmp_path, old_store):
    env = worker_env(settings, tmp_path)
    ensured = run_manage("ensure_qdrant_collection", env=env)
    assert ensured.returncode == 0
    assert ensured.stderr == f"{NOTICE}\n"
    checked = run_manage("check", "--deploy", "--tag", "qdrant", env=env)
    assert f"(vectors.W018) {NOTICE}" in checked.stderr
    assert "Traceback" not in checked.stderr
