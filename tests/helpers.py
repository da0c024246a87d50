"""Small helpers shared by tests that run the project as a user would."""

import os
import socket
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


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
