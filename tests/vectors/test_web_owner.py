"""Embedded Qdrant owned by the web server: `runserver` holds the store, delivers
the change log itself, and a `sync_vectors` started beside it says so in one line."""

import subprocess
import sys

import pytest

from catalog.models import Product
from tests.helpers import (
    PROJECT_DIR,
    answers,
    closed_port,
    manage,
    similar_titles,
    wait_until,
    worker_env,
)
from tests.vectors.helpers import watched_product

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_web_server_owns_the_store_and_delivers_edits(settings, tmp_path):
    env = worker_env(settings, tmp_path)
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    port = closed_port()
    # Its request log is not read: discarded, so that it can never fill a pipe and block.
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"))
        shirt = watched_product("a", "Blue linen shirt")
        boots = watched_product("b", "Leather boots")
        assert similar_titles(base, shirt.pk) == ["Leather boots"]

        # An edit (as the admin saves it) reaches search with the server still running.
        Product.objects.filter(pk=boots.pk).update(title="Blue linen shirt, short sleeves")
        scarf = watched_product("c", "Wool scarf")
        wait_until(lambda: len(similar_titles(base, scarf.pk)) == 2)
        assert similar_titles(base, shirt.pk)[0] == "Blue linen shirt, short sleeves"

        # The worker cannot open the store beside the server, and need not: one line, exit 0.
        beside = manage("sync_vectors", env=env)
        out, err = beside.communicate(timeout=60)
        assert (beside.returncode, err) == (0, "")
        assert out.startswith(f"embedded Qdrant at {tmp_path / 'qdrant'} is owned by manage.py")
        assert out.endswith(
            f"runserver (pid {server.pid}), which delivers the change log itself: "
            "nothing to do here.\n"
        )
        assert out.count("\n") == 1
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize(
    "values",
    [{"URL": "http://qdrant.example:6333"}, {"PATH": ":memory:"}, {"VECTOR_SIZE": "big"}],
)
def test_the_loop_starts_only_for_an_embedded_edge_store(settings, values):
    from vectors.background import start_embedded_sync

    settings.QDRANT = values
    assert start_embedded_sync() is None
