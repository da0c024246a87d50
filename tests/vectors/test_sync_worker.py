"""sync_vectors as operators run it, in its own process: a watch worker lives
through PostgreSQL dropping its connection, SIGTERM stops a backlog within one batch, and
commands that never touch Qdrant do not pay for importing its client."""

import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from catalog.models import Product
from tests.helpers import PROJECT_DIR, WORKER, Lines, manage, worker_env
from tests.vectors.helpers import watched_product
from vectors.client import get_qdrant_client
from vectors.models import ProductChange
from vectors.sync_queue import pending_count

pytestmark = pytest.mark.django_db(transaction=True)


def test_watch_survives_its_database_connection_being_terminated(settings, tmp_path):
    env = worker_env(settings, tmp_path)
    ensure = manage("ensure_qdrant_collection", env=env)
    assert ensure.wait(timeout=60) == 0
    worker = manage("sync_vectors", "--watch", "--interval", "0.2", env=env)
    lines = Lines(worker)
    try:
        lines.wait_for("Watching the product change log")
        watched_product("before", "Watched shirt before")
        lines.wait_for("Synced 1 product: 1 embedded")

        with connection.cursor() as cursor:  # what a PostgreSQL restart does to a client
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [WORKER],
            )
            assert cursor.fetchone()[0] >= 1
        watched_product("after", "Watched shirt after")
        warning = lines.wait_for("Database unavailable:")
        assert "retrying in" in warning
        lines.wait_for("Synced 1 product: 1 embedded")
        assert pending_count() == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Traceback" not in err + "".join(line for _, line in lines.seen)


def _syncing_a_backlog(settings, tmp_path, total: int):
    """`total` products inserted by one statement, and sync_vectors started on them in its
    own process (batches of 50): its environment and process."""
    env = worker_env(settings, tmp_path)
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO catalog_product (store_id, external_id, title, price, product_url)
               SELECT 'backlog', 'sku-' || i, 'Shirt ' || i, 10, 'https://s.example/' || i
               FROM generate_series(1, %s) AS i""",
            [total],
        )
    return env, manage("sync_vectors", "--batch-size", "50", "--no-duplicates", env=env)


def test_sigterm_stops_a_backlog_between_batches_with_nothing_half_done(settings, tmp_path):
    """Every product ends either in Qdrant or still queued, never both, never neither: the
    batch in flight is delivered whole or given back whole."""
    total = 20_000
    env, worker = _syncing_a_backlog(settings, tmp_path, total)
    try:
        deadline = time.monotonic() + 60
        while pending_count() == total and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pending_count() < total, "the worker never started"
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    queued = pending_count()
    assert 0 < queued < total  # it stopped, and not before starting
    assert not ProductChange.objects.filter(lease__isnull=False).exists()
    stay = "product stays" if queued == 1 else "products stay"
    assert f"Stopped; {queued:,} {stay} queued." in out
    settings.QDRANT = {"PATH": env["QDRANT_PATH"]}
    delivered = get_qdrant_client().count("products", exact=True).count
    assert delivered + queued == total


def test_a_sync_killed_mid_backlog_leaves_nothing_the_next_one_does_not_deliver(settings, tmp_path):
    """SIGKILL: the batches prepared ahead, and those written but not yet finished (handed
    to the preparing process, which dies with the sync), stay leased by a process that is
    gone. The next sync takes them over at once and delivers everything."""
    total = 20_000
    env, worker = _syncing_a_backlog(settings, tmp_path, total)
    try:
        deadline = time.monotonic() + 60
        while pending_count() > total - 2_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert pending_count() <= total - 2_000, "the worker never got going"
    finally:
        worker.kill()
        worker.communicate(timeout=30)
    assert 0 < pending_count() < total
    again = manage("sync_vectors", "--no-duplicates", env=env)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert "Synced" in out and "Traceback" not in err
    assert not ProductChange.objects.exists()
    settings.QDRANT = {"PATH": env["QDRANT_PATH"]}
    assert get_qdrant_client().count("products", exact=True).count == total


def test_commands_and_pages_that_do_not_use_qdrant_do_not_import_it(settings, tmp_path):
    feed = tmp_path / "one.jsonl"
    feed.write_text(
        '{"external_id": "a", "title": "Scarf", "price": "5", '
        '"product_url": "https://s.example/a"}\n'
    )
    script = (
        "import sys, django\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "from django.test import Client\n"
        "call_command('import_products', sys.argv[1], '--store', 'startup', verbosity=0)\n"
        "status = Client().get('/admin/login/', HTTP_HOST='127.0.0.1').status_code\n"
        "heavy = [m for m in ('qdrant_client', 'grpc', 'onnxruntime', 'PIL') "
        "if m in sys.modules]\n"
        "print(status, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(feed)],
        cwd=PROJECT_DIR,
        env=worker_env(settings, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "200 []"
    assert Product.objects.filter(store_id="startup").count() == 1
