"""Small helpers shared by tests that run the project as a user would."""

import os
import selectors
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Real responses of shops' and rate publishers' APIs (each file's source in SOURCES.md there).
INGEST_FIXTURES = PROJECT_DIR / "tests" / "catalog" / "ingest" / "fixtures"


def closed_port() -> int:
    """A TCP port on 127.0.0.1 with nothing listening (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage_env(env: dict[str, str]) -> dict[str, str]:
    """The given variables on top of this environment minus the project's own, so that a
    developer's DJANGO_* or QDRANT_* variables cannot leak into a test."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QDRANT_"))}
    base.pop("DATABASE_URL", None)
    # Nor may the developer's .env file.
    # Servers under test take many requests from 127.0.0.1: no per-client API limit unless a
    # test asks for one.
    defaults = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV_FILE": "",
        "API_RATE_LIMIT": "",
    }
    return base | defaults | env


def run_manage(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run manage.py in a fresh process, as an operator would."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=manage_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class SilentServer:
    """A TCP port on 127.0.0.1 that accepts connections and never answers: a server that
    hangs, for timeout tests."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]

    def __enter__(self) -> "SilentServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


class LoopbackHTTPServer:
    """A threaded HTTP server on a free port of 127.0.0.1, for the duration of a `with`
    block; subclasses or callers supply the request handler class."""

    def __init__(self, handler: type) -> None:
        from http.server import ThreadingHTTPServer
        from threading import Thread

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# --- Processes as an operator runs them, and the servers they start ---------------------

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


GUNICORN = [sys.executable, "-m", "gunicorn", "config.wsgi"]


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    # Its request log is not read: discarded, so that it can never fill a pipe and block.
    return subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def similar_titles(base: str, product_id, seconds: float = 30) -> list[str]:
    """What the API answers once the product is indexed (409 until then)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/api/products/{product_id}/similar", timeout=5)
        if answer.status_code == 200:
            return [item["title"] for item in answer.json()["results"]]
        assert answer.status_code == 409, answer.text
        time.sleep(0.3)
    raise AssertionError(f"product {product_id} was not indexed in {seconds}s")


def answers(url: str) -> bool:
    try:
        httpx.get(url, timeout=5)
    except httpx.TransportError:
        return False
    return True


def wait_until(predicate, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)
