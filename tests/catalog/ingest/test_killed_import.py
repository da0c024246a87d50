"""A killed import leaves nothing behind: no reader process, no session, no store lock
(killing only the parent left the forked reader holding the parent's database
socket, the session "idle in transaction" with the store's lock, and the next import of
that store hung).

The test holds the store's import lock itself, so that the import is certainly inside its
first transaction, waiting, when it is killed; then it lets go, and the killed import's
session must end instead of taking the lock and sitting on it."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from catalog.ingest.writer import store_lock_key
from catalog.models import Product
from tests.catalog.ingest.conftest import product
from tests.helpers import PROJECT_DIR, manage_env

ROWS = 3000


def wait_for(predicate, *, seconds: float, failure: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(failure)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_import_leaves_no_lock_and_the_next_one_finishes(feed, settings, sig):
    store = f"shop-killed-{sig.name}"  # a lock of its own, whatever another case left
    db = settings.DATABASES["default"]
    conninfo = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = manage_env({"DJANGO_DEBUG": "1", "DATABASE_URL": conninfo})
    path = feed([product(i) for i in range(ROWS)])
    command = [
        sys.executable,
        "manage.py",
        "import_products",
        str(path),
        "--store",
        store,
        "--batch-size",
        "100",
    ]
    waiting = (
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        f"AND query LIKE '%{store_lock_key(store)}%'"
    )
    with psycopg.connect(conninfo, autocommit=True) as blocker:
        blocker.execute("SET lock_timeout = '30s'")  # a failure here must not hang the suite
        blocker.execute("SELECT pg_advisory_lock(hashtext(%s))", [store_lock_key(store)])
        importer = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            (backend,) = wait_for(
                lambda: blocker.execute(waiting).fetchone(),
                seconds=60,
                failure="the import never reached its first transaction",
            )
            readers = children_of(importer.pid)
            assert readers, "the import runs its reader in a forked process"
            importer.send_signal(sig)
            importer.wait(timeout=30)  # (its pipes stay open while a reader holds them)
        finally:
            if importer.poll() is None:
                importer.kill()
        blocker.execute("SELECT pg_advisory_unlock(hashtext(%s))", [store_lock_key(store)])

        wait_for(
            lambda: not any(running(pid) for pid in readers),
            seconds=15,
            failure="the reader process outlived the killed import",
        )
        if sig == signal.SIGTERM:  # stopped as by Ctrl-C: one line, no traceback
            assert importer.returncode == 1
            assert importer.stderr.read().decode().startswith("CommandError: Interrupted.")
        wait_for(
            lambda: (
                blocker.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [backend]
                ).fetchone()
                is None
            ),
            seconds=15,
            failure="the killed import's session is still open (holding the store's lock)",
        )

    again = subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"{ROWS:,} created")
    assert Product.objects.filter(store_id=store).count() == ROWS
