"""sync_vectors as operators run it, in its own process: a watch worker lives
through PostgreSQL dropping its connection, SIGTERM stops a backlog within one batch, and
commands that never touch Qdrant do not pay for importing its client."""

import selectors
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from catalog.models import Product
from tests.helpers import PROJECT_DIR, manage_env
from vectors.sync_queue import pending_count

pytestmark = pytest.mark.django_db(transaction=True)

WORKER = "sync-worker-test"  # the worker's application_name, to find its sessions


def worker_env(settings, tmp_path) -> dict[str, str]:
    db = settings.DATABASES["default"]
    return manage_env(
        {
            "DJANGO_DEBUG": "1",
            "QDRANT_PATH": str(tmp_path / "qdrant"),
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}"
            f"/{db['NAME']}?application_name={WORKER}",
        }
    )


def manage(*args: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


class Lines:
    """Lines from a child's stdout and stderr, waited for with a deadline (never a hang)."""

    def __init__(self, process: subprocess.Popen):
        self.selector = selectors.DefaultSelector()
        self.selector.register(process.stdout, selectors.EVENT_READ, "out")
        self.selector.register(process.stderr, selectors.EVENT_READ, "err")
        self.seen: list[tuple[str, str]] = []

    def wait_for(self, text: str, seconds: float = 30) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=0.2):
                line = key.fileobj.readline()
                if line:
                    self.seen.append((key.data, line))
                    if text in line:
                        return line
        raise AssertionError(f"no line with {text!r} in {seconds}s; saw {self.seen}")


def new_product(external_id: str) -> Product:
    return Product.objects.create(
        store_id="w",
        external_id=external_id,
        title=f"Watched shirt {external_id}",
        price="1.00",
        product_url=f"https://w.example/{external_id}",
    )


def test_watch_survives_its_database_connection_being_terminated(settings, tmp_path):
    env = worker_env(settings, tmp_path)
    ensure = manage("ensure_qdrant_collection", env=env)
    assert ensure.wait(timeout=60) == 0
    worker = manage("sync_vectors", "--watch", "--interval", "0.2", env=env)
    lines = Lines(worker)
    try:
        lines.wait_for("Watching the product change log")
        new_product("before")
        lines.wait_for("Synced 1 product: 1 embedded")

        with connection.cursor() as cursor:  # what a PostgreSQL restart does to a client
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s",
                [WORKER],
            )
            assert cursor.fetchone()[0] >= 1
        new_product("after")
        warning = lines.wait_for("Database unavailable:")
        assert "retrying in" in warning
        lines.wait_for("Synced 1 product: 1 embedded")
        assert pending_count() == 0
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Traceback" not in err + "".join(line for _, line in lines.seen)


def test_sigterm_stops_a_backlog_within_one_batch(settings, tmp_path):
    env = worker_env(settings, tmp_path)
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO catalog_product (store_id, external_id, title, price, product_url)
               SELECT 'backlog', 'sku-' || i, 'Shirt ' || i, 10, 'https://s.example/' || i
               FROM generate_series(1, 5000) AS i"""
        )
    batch = 50
    worker = manage("sync_vectors", "--batch-size", str(batch), env=env)
    try:
        deadline = time.monotonic() + 60
        while (before := pending_count()) == 5000 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert before < 5000, "the worker never started"
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
    after = pending_count()
    # The batch in flight, and at most one claimed while the signal was on its way.
    assert before - after <= 2 * batch, (before, after)
    assert after > 0
    assert worker.returncode == 0, err
    stay = "product stays" if after == 1 else "products stay"
    assert f"Stopped; {after:,} {stay} queued." in out


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
