"""A loopback stand-in of the Hugging Face hub's file endpoints, for download_model's tests
(the real hub cannot be reached from the test machines).

It answers HEAD and GET /{repository}/resolve/{revision}/{path} with the headers
huggingface_hub reads: X-Repo-Commit, the file's hash as the hub publishes it (X-Linked-Etag
with the sha256 for a large, LFS-stored file; ETag with the git blob id for a small one) and
its size; GET honours `Range: bytes=N-` as the hub's storage does, so an interrupted
download can resume. Every request is recorded; `tampered` serves other bytes under a file's
published hash, and `bytes_per_second` slows downloads down so a test can stop one midway."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler

from tests.helpers import LoopbackHTTPServer

LFS_ABOVE = 1024  # bytes: larger files are served as LFS files are


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # noqa: S324


class StandInHub:
    def __init__(self, files: dict[str, bytes], *, repository: str, revision: str):
        self.files = files
        self.repository = repository
        self.revision = revision
        self.tampered: dict[str, bytes] = {}
        self.bytes_per_second: int | None = None
        self.requests: list[tuple[str, str, str]] = []  # method, file, Range header
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._server = LoopbackHTTPServer(self._handler())

    def __enter__(self) -> StandInHub:
        self._server.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._server.__exit__(*exc)

    @property
    def endpoint(self) -> str:
        return self._server.base

    def gets(self, name: str) -> list[str]:
        """The Range headers of the GETs of one file, in order ('' for a whole file)."""
        return [rng for method, file, rng in self.requests if method == "GET" and file == name]

    def _handler(self):
        hub = self
        prefix = re.compile(rf"^/{re.escape(hub.repository)}/resolve/([^/]+)/(.+)$")

        class Handler(BaseHTTPRequestHandler):
            def _file(self):
                match = prefix.match(self.path.split("?")[0])
                if not match or match.group(1) != hub.revision:
                    return None, None
                name = match.group(2)
                return name, hub.files.get(name)

            def _headers(self, name: str, data: bytes) -> None:
                self.send_header("X-Repo-Commit", hub.revision)
                if len(data) > LFS_ABOVE:
                    self.send_header("X-Linked-Etag", f'"{hashlib.sha256(data).hexdigest()}"')
                    self.send_header("X-Linked-Size", str(len(data)))
                else:
                    self.send_header("ETag", f'"{git_blob_id(data)}"')

            def do_HEAD(self):
                name, data = self._file()
                with hub._lock:
                    hub.requests.append(("HEAD", name or self.path, ""))
                if data is None:
                    self._missing()
                    return
                self.send_response(200)
                self._headers(name, data)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_GET(self):
                name, data = self._file()
                header = self.headers.get("Range", "")
                with hub._lock:
                    hub.requests.append(("GET", name or self.path, header))
                if data is None:
                    self._missing()
                    return
                body = hub.tampered.get(name, data)
                start = int(m.group(1)) if (m := re.match(r"bytes=(\d+)-", header)) else 0
                part = body[start:]
                self.send_response(206 if start else 200)
                self._headers(name, data)
                self.send_header("Content-Length", str(len(part)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                step = 64 * 1024
                for offset in range(0, len(part), step):
                    if hub.bytes_per_second:
                        time.sleep(step / hub.bytes_per_second)
                    try:
                        self.wfile.write(part[offset : offset + step])
                    except OSError:
                        return  # the client went away (killed mid-download)
                    with hub._lock:
                        hub.bytes_sent += len(part[offset : offset + step])

            def _missing(self):
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler
