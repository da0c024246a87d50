"""Serving an embedded store as a shop would: the documented server (gunicorn, one process
with threads), runserver, many clients at once, and the wrong process model refused."""

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from django.db import connection

from config.processes import parent_of
from tests.helpers import (
    GUNICORN,
    PROJECT_DIR,
    WORKER,
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

pytestmark = pytest.mark.django_db(transaction=True)


def sessions_of_the_server() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKER]
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize("server", ["gunicorn", "runserver"])
def test_many_clients_at_once_get_answers_from_a_bounded_pool(settings, tmp_path, server):
    env = worker_env(settings, tmp_path) | {"DATABASE_POOL_MAX_SIZE": "4"}
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    products = [watched_product(f"p{k}", f"Shirt number {k} in blue") for k in range(20)]
    port = closed_port()
    if server == "gunicorn":
        command = [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--threads", "8"]
    else:
        command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    process = start(command, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"))
        similar_titles(base, products[-1].pk)  # the server's own sync delivered them

        # 32 clients, four times the threads and eight times the pool: every request
        # answered, never more database sessions than the pool holds.
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=0)
        with httpx.Client(base_url=base, timeout=30, limits=limits) as browser:

            def ask(k: int) -> int:
                return browser.get(f"/api/products/{products[k % 20].pk}/similar").status_code

            most_sessions = 0
            with ThreadPoolExecutor(max_workers=32) as clients:
                statuses = []
                for status in clients.map(ask, range(480)):
                    statuses.append(status)
                    if len(statuses) % 40 == 0:
                        most_sessions = max(most_sessions, sessions_of_the_server())
        assert statuses == [200] * 480
        assert 0 < most_sessions <= 4
    finally:
        stop(process)


def refused(result: subprocess.CompletedProcess, start_of_line: str) -> str:
    """The one line the refusal printed (no traceback)."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if start_of_line in line]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def run_gunicorn(*args: str, env: dict[str, str], timeout: float = 60):
    """gunicorn in the foreground, for the refusals that stop it at start."""
    return subprocess.run(
        [*GUNICORN, *args],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_gunicorn_refuses_several_workers_on_an_embedded_store(settings, tmp_path):
    env = worker_env(settings, tmp_path)
    port = closed_port()
    result = run_gunicorn("--bind", f"127.0.0.1:{port}", "--workers", "3", env=env)
    line = refused(result, "Refusing to start")
    assert "3 worker processes" in line
    assert "run one worker with threads" in line
    assert not answers(f"http://127.0.0.1:{port}/healthz")


def test_gunicorn_says_in_one_line_when_the_settings_cannot_load(settings, tmp_path):
    env = worker_env(settings, tmp_path) | {"DJANGO_DEBUG": "0"}
    env.pop("DJANGO_SECRET_KEY", None)
    result = run_gunicorn("--bind", f"127.0.0.1:{closed_port()}", env=env)
    assert "DJANGO_SECRET_KEY is required" in refused(result, "Refusing to start")


def test_a_second_web_process_on_the_store_refuses_to_serve(settings, tmp_path):
    """Any server that starts several processes (here gunicorn without our settings file):
    the process that finds the store served already exits in one line, and gunicorn stops."""
    env = worker_env(settings, tmp_path)
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    plain = tmp_path / "plain.conf.py"
    plain.write_text("")
    bind = f"127.0.0.1:{closed_port()}"
    result = run_gunicorn("-c", str(plain), "--workers", "2", "--bind", bind, env=env, timeout=90)
    line = refused(result, "Refusing to serve")
    assert "serves embedded Qdrant at" in line
    assert "one web process only" in line


def test_health_says_503_in_a_web_process_that_cannot_reach_the_store(settings, tmp_path):
    env = worker_env(settings, tmp_path) | {"QDRANT_TIMEOUT": "1", "QDRANT_CHECK_TIMEOUT": "1"}
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    # A command holds the store (as a long reindex would) while the web server starts.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django; django.setup();"
            "from vectors.client import get_qdrant_client; get_qdrant_client();"
            "print('holding', flush=True); import time; time.sleep(120)",
        ],
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    port = closed_port()
    server = None
    try:
        assert holder.stdout.readline().strip() == "holding"
        server = start([*GUNICORN, "--bind", f"127.0.0.1:{port}"], env)
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{base}/healthz"), seconds=60)
        answer = httpx.get(f"{base}/healthz", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["qdrant"]["reachable"] is False
        assert "is in use by" in answer.json()["qdrant"]["error"]

        # Once the holder lets go, the same web process takes the store and is healthy.
        holder.kill()
        holder.wait()
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/healthz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the web process never took the store"
            time.sleep(0.5)
    finally:
        holder.kill()
        holder.wait()
        if server is not None:
            stop(server)


def test_postgresql_down_is_a_503_in_json_not_a_crash(settings, tmp_path):
    env = worker_env(settings, tmp_path)
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    down = env | {
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/catalog",
        "DATABASE_CONNECT_TIMEOUT": "1",
    }
    port = closed_port()
    server = start([*GUNICORN, "--bind", f"127.0.0.1:{port}"], down)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"), seconds=60)
        health = httpx.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["postgresql"]["ok"] is False
        answer = httpx.get(
            f"{base}/api/products/00000000-0000-4000-8000-000000000000/similar", timeout=20
        )
        assert answer.status_code == 503
        assert answer.json() == {"error": "similar products are unavailable right now"}
    finally:
        stop(server)


def workers_of(master: subprocess.Popen) -> set[int]:
    pids = {int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()}
    return {pid for pid in pids if parent_of(pid) == master.pid}


def test_a_reload_replaces_the_worker_without_stopping_the_server(settings, tmp_path):
    """`kill -HUP` on gunicorn's master: a new worker serves the store and the master keeps
    running. Here the old worker usually lets go before the new one has loaded Django; when
    it has not (a slow request still finishing), the new one waits for its sibling instead
    of refusing, which would make the master stop the whole server."""
    env = worker_env(settings, tmp_path)
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    products = [watched_product(f"p{k}", f"Dress number {k} in red") for k in range(3)]
    port = closed_port()
    server = start([*GUNICORN, "--bind", f"127.0.0.1:{port}"], env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{base}/healthz"), seconds=60)
        similar_titles(base, products[0].pk)
        (first,) = workers_of(server)

        server.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while not (workers_of(server) - {first} and not Path(f"/proc/{first}").exists()):
            assert time.monotonic() < deadline, "the old worker never made way"
            time.sleep(0.2)
        wait_until(lambda: httpx.get(f"{base}/healthz", timeout=10).status_code == 200)
        assert server.poll() is None
        assert len(workers_of(server)) == 1
        similar_titles(base, products[1].pk)
    finally:
        stop(server)


def test_a_search_counts_the_time_it_queued_for_a_web_thread(settings, tmp_path):
    """gunicorn's one thread held by a client that sends its request slowly: a words search
    sent meanwhile waits in gunicorn's queue, and its Server-Timing says so (the model
    slots' limit counts that wait too: vectors/query.py)."""
    import socket

    env = worker_env(settings, tmp_path) | {"API_RATE_LIMIT": ""}
    assert manage("ensure_qdrant_collection", env=env).wait(timeout=60) == 0
    products = [watched_product(f"q{k}", f"Shirt number {k} in blue") for k in range(3)]
    port = closed_port()
    process = start([*GUNICORN, "--bind", f"127.0.0.1:{port}", "--threads", "1"], env)
    base = f"http://127.0.0.1:{port}"
    held_for = 1.5
    try:
        wait_until(lambda: answers(f"{base}/healthz"))
        similar_titles(base, products[-1].pk)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers unfinished
            time.sleep(0.3)  # the thread is reading them
            with ThreadPoolExecutor(max_workers=1) as shopper:
                search = shopper.submit(httpx.get, f"{base}/api/search?q=blue+shirt", timeout=30)
                time.sleep(held_for)
                slow.sendall(b"Connection: close\r\n\r\n")
                answer = search.result()
        assert answer.status_code == 200
        queue = answer.headers["Server-Timing"].split(", ")[0]
        assert float(queue.removeprefix("queue;dur=")) >= 1000 * held_for / 2
    finally:
        stop(process)
