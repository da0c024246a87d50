"""A full disk under an embedded store is an error, not a crash: writes stop in one line
before it is full, searches and the admin go on, health and checks say so, and everything
queued is delivered once there is room again.

The tests on a real full disk mount a small tmpfs (root only, as on CI; skipped elsewhere):
Qdrant Edge writes through memory-mapped files, and only a real file system that runs out of
blocks shows what that does (SIGBUS)."""

import os
import re
import shutil
import signal
import subprocess
import time

import httpx
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Product
from tests.helpers import (
    GUNICORN,
    answers,
    closed_port,
    manage,
    similar_titles,
    start,
    stop,
    wait_until,
    worker_env,
)
from tests.vectors.helpers import watched_product
from vectors.client import get_qdrant_client
from vectors.conf import qdrant_config
from vectors.embedders import get_embedder
from vectors.exceptions import StoreDiskFull
from vectors.models import ProductChange
from vectors.sync import sync_pending
from vectors.sync_queue import pending_count

MB = 1024 * 1024


@pytest.fixture
def embedded(settings, tmp_path):
    settings.QDRANT = {"PATH": str(tmp_path / "qdrant")}
    call_command("ensure_qdrant_collection", stdout=open(os.devnull, "w"))  # noqa: SIM115
    return settings


def shirts(count: int) -> list[Product]:
    return Product.objects.bulk_create(
        Product(
            store_id="s",
            external_id=f"sku-{k}",
            title=f"Cotton shirt {k} colour {k % 13}",
            price="20.00",
            product_url=f"https://s.example/{k}",
        )
        for k in range(count)
    )


@pytest.mark.django_db
def test_writes_stop_under_the_margin_and_the_queue_waits(embedded):
    shirts(50)
    embedded.QDRANT = {**embedded.QDRANT, "MIN_FREE_MB": str(10**9)}  # more than any disk
    with pytest.raises(StoreDiskFull) as refused:
        sync_pending(client=get_qdrant_client(), config=qdrant_config(), embedder=get_embedder())
    assert "free on its disk; writing (QDRANT_MIN_FREE_MB=1,000,000,000 included) needs" in str(
        refused.value
    )
    # Nothing failed, nothing was set aside, nothing is leased: the changes just wait.
    assert pending_count() == 50
    assert not ProductChange.objects.filter(attempts__gt=0).exists()
    assert not ProductChange.objects.filter(lease__isnull=False).exists()

    with pytest.raises(CommandError) as command:
        call_command("sync_vectors", stdout=open(os.devnull, "w"))  # noqa: SIM115
    message = str(command.value)
    assert "\n" not in message
    assert message.endswith("50 products stay queued; run sync_vectors again once there is room.")

    embedded.QDRANT = {**embedded.QDRANT, "MIN_FREE_MB": "1"}
    report = sync_pending(
        client=get_qdrant_client(), config=qdrant_config(), embedder=get_embedder()
    )
    assert report.embedded == 50
    assert pending_count() == 0


@pytest.mark.django_db
def test_health_and_checks_report_a_low_disk(embedded, client):
    embedded.QDRANT = {**embedded.QDRANT, "MIN_FREE_MB": str(10**9)}
    answer = client.get("/healthz")
    assert answer.status_code == 200  # searches work: degraded, not down
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["disk"]["ok"] is False
    assert body["disk"]["min_free_mb"] == 10**9
    assert "product changes are not delivered until space is freed" in body["disk"]["error"]

    from django.core import checks

    found = [m for m in checks.run_checks(include_deployment_checks=True) if m.id == "vectors.W019"]
    assert len(found) == 1
    assert "under QDRANT_MIN_FREE_MB" in found[0].msg

    embedded.QDRANT = {**embedded.QDRANT, "MIN_FREE_MB": "1"}
    assert client.get("/healthz").json()["status"] == "ok"


# A real full disk --------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 200 MB file system of its own (tmpfs), unmounted afterwards."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["/usr/bin/mount", "-t", "tmpfs", "-o", "size=200m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root (CI has it)")
    try:
        yield mount_point
    finally:
        subprocess.run(["/usr/bin/umount", "-l", str(mount_point)], check=False)


def fill(disk, *, leave_mb: float) -> None:
    """Take all but `leave_mb` of the disk's free space (a file of zeros, really written)."""
    free = shutil.disk_usage(disk).free
    size = int(free - leave_mb * MB)
    with open(disk / "filler", "ab") as filler:
        os.posix_fallocate(filler.fileno(), filler.tell(), max(size, 1))


def run(*args, env, timeout=120):
    process = manage(*args, env=env)
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


@pytest.mark.django_db(transaction=True)
def test_a_full_disk_stops_the_sync_in_one_line_and_nothing_is_lost(settings, small_disk):
    env = worker_env(settings, small_disk) | {"QDRANT_MIN_FREE_MB": "64"}
    assert run("ensure_qdrant_collection", env=env)[0] == 0
    shirts(3000)
    fill(small_disk, leave_mb=40)  # under the margin

    code, out, err = run("sync_vectors", env=env)
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    # Opening the store (to read the collection's generation) starts a write-ahead log
    # segment, so a little less than the 40 MB left is free when the write is refused.
    assert re.search(
        r"only [1-4]\d MB free on its disk; writing \(QDRANT_MIN_FREE_MB=64 included\) "
        r"needs 64 MB",
        err,
    ), err
    assert "3,000 products stay queued" in err

    # Without the guard, the engine dies of SIGBUS when the disk fills: so it did before.
    fill(small_disk, leave_mb=5)
    code, out, err = run("sync_vectors", env=env | {"QDRANT_MIN_FREE_MB": "0"})
    assert code == -signal.SIGBUS, (code, err)
    # And then merely opening the store replayed its write-ahead log into full files: every
    # process that opened it died the same way. Now it is refused in one line.
    for command in (["reconcile_vectors"], ["optimize_vectors"], ["check", "--deploy"]):
        code, out, err = run(*command, env=env)
        assert code == 1, (command, code, err)
        assert "opening it (replaying its write-ahead log) needs" in err, (command, err)
        assert "Traceback" not in err

    # Room again: everything queued is delivered, nothing is missing.
    (small_disk / "filler").unlink()
    code, out, err = run("sync_vectors", env=env)
    assert code == 0, err
    code, out, err = run("reconcile_vectors", env=env)
    assert code == 0, err
    assert "Checked 3,000 products and 3,000 points." in out
    assert pending_count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_web_process_keeps_serving_while_its_disk_is_full(settings, small_disk):
    env = worker_env(settings, small_disk) | {"QDRANT_MIN_FREE_MB": "64"}
    assert run("ensure_qdrant_collection", env=env)[0] == 0
    shirt = watched_product("a", "Blue linen shirt")
    watched_product("b", "Leather boots")
    port = closed_port()
    server = start([*GUNICORN, "--bind", f"127.0.0.1:{port}"], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"))
        assert similar_titles(base, shirt.pk) == ["Leather boots"]

        fill(small_disk, leave_mb=40)
        scarf = watched_product("c", "Wool scarf")
        time.sleep(5)  # the server's sync loop tries, and stops short of writing
        assert httpx.get(f"{base}/api/products/{scarf.pk}/similar").status_code == 409
        assert similar_titles(base, shirt.pk) == ["Leather boots"]  # searches go on
        health = httpx.get(f"{base}/healthz").json()
        assert (health["status"], health["disk"]["ok"]) == ("degraded", False)
        assert httpx.get(f"{base}/admin/login/").status_code == 200
        assert server.poll() is None

        (small_disk / "filler").unlink()
        assert sorted(similar_titles(base, scarf.pk)) == ["Blue linen shirt", "Leather boots"]
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    finally:
        stop(server)
