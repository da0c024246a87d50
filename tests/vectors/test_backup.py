"""Backing up and restoring the embedded store, as the README's "Backups" section says."""

import shutil
import subprocess
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Product
from tests.vectors.helpers import expected_points, points
from vectors.client import get_qdrant_client, reset_qdrant_clients
from vectors.collection import collection_ensure
from vectors.conf import qdrant_config
from vectors.embedders import get_embedder
from vectors.sync import sync_pending

pytestmark = pytest.mark.django_db


def quiet(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_backup_restores_the_store_and_the_sync_catches_up(tmp_path, settings, make_product):
    store = tmp_path / "qdrant"
    settings.QDRANT = {"PATH": str(store)}
    client, config = get_qdrant_client(), qdrant_config()
    collection_ensure(client=client, config=config)
    kept, changed, deleted = make_product(), make_product(), make_product()
    sync_pending(client=client, config=config, embedder=get_embedder())
    at_backup = expected_points()

    archive = tmp_path / "vectors.tar.gz"
    assert quiet("backup_vectors", str(archive)).startswith(f"Wrote {archive}: ")

    # Life goes on after the backup; then the store is lost.
    added = make_product(title="Added after the backup")
    Product.objects.filter(pk=changed.pk).update(price="1.23")
    Product.objects.filter(pk=deleted.pk).delete()
    sync_pending(client=client, config=config, embedder=get_embedder())
    reset_qdrant_clients()
    shutil.rmtree(store)

    # The README's restore: unpack into an empty QDRANT_PATH; the next sync catches up
    # with what changed since the backup (no command typed), and reconcile finds nothing.
    store.mkdir()
    subprocess.run([shutil.which("tar"), "-xf", str(archive), "-C", str(store)], check=True)
    restored = get_qdrant_client()
    assert points(restored, config.collection) == at_backup
    sync_pending(client=restored, config=config, embedder=get_embedder())
    assert points(restored, config.collection) == expected_points()
    quiet("reconcile_vectors")  # exits 1 (CommandError) on drift
    assert set(expected_points()) == {str(kept.pk), str(changed.pk), str(added.pk)}


def test_a_failed_backup_leaves_no_archive(tmp_path, settings):
    settings.QDRANT = {"PATH": str(tmp_path / "qdrant")}
    collection_ensure(client=get_qdrant_client(), config=qdrant_config())
    with pytest.raises(CommandError, match="is not a directory"):
        quiet("backup_vectors", str(tmp_path / "missing" / "vectors.tar"))
    # A directory where the archive should go: the write fails at the very end.
    target = tmp_path / "out" / "vectors.tar"
    target.mkdir(parents=True)
    with pytest.raises(CommandError, match=f"Cannot write {target}"):
        quiet("backup_vectors", str(target))
    assert list((tmp_path / "out").iterdir()) == [target]  # no partial archive left


def test_a_server_is_backed_up_with_its_own_snapshots(settings, tmp_path):
    settings.QDRANT = {"PATH": ":memory:"}
    with pytest.raises(CommandError, match="back up a Qdrant server with its snapshots"):
        quiet("backup_vectors", str(tmp_path / "never-written.tar"))
    assert list(tmp_path.iterdir()) == []
