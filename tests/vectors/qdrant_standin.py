"""A stand-in for the Qdrant server's REST API, on real HTTP over 127.0.0.1.

No Qdrant server can run on the test machines (no Docker, no binary), and qdrant-client's
local mode (the in-memory engine that stands in for a server's API in the other tests)
ignores what only a server keeps: payload indexes, on-disk payload, shards, quantization.
This stand-in speaks the few endpoints that collection setup uses, stores what it is sent and
records every request, so the server code path is exercised through qdrant-client's real
HTTP client. It is a mock of the server and nothing more: behaviour that matters is still
checked end to end on Qdrant Edge and the in-memory engine.
"""

from __future__ import annotations

import copy
import json
import re
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers import LoopbackHTTPServer
from vectors.client import QdrantClient, models


def _info_template() -> dict[str, Any]:
    """A CollectionInfo body shaped exactly as qdrant-client expects, taken from local mode."""
    local = QdrantClient(location=":memory:")
    local.create_collection("t", vectors_config=models.VectorParams(size=1, distance="Cosine"))
    info = local.get_collection("t").model_dump(mode="json")
    local.close()
    return info


class QdrantStandIn(LoopbackHTTPServer):
    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, str] = {}
        self.requests: list[tuple[str, str, Any]] = []
        self.fail_with: tuple[int, str] | None = None
        self._template = _info_template()
        super().__init__(self._handler())

    @property
    def url(self) -> str:
        return self.base

    def info(self, name: str) -> dict[str, Any]:
        stored = self.collections[name]
        info = copy.deepcopy(self._template)
        params = info["config"]["params"]
        params["vectors"] = stored["vectors"]
        for key in ("shard_number", "replication_factor", "write_consistency_factor"):
            params[key] = stored.get(key) or 1
        params["on_disk_payload"] = stored.get("on_disk_payload", False)
        info["config"]["quantization_config"] = stored.get("quantization_config")
        info["config"]["metadata"] = stored.get("metadata")
        info["payload_schema"] = copy.deepcopy(stored["payload_schema"])
        return info

    # -- request handling -------------------------------------------------------------
    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if self.fail_with:
            status, error = self.fail_with
            return status, {"status": {"error": error}}
        if method == "GET" and path == "/aliases":
            aliases = [{"alias_name": a, "collection_name": c} for a, c in self.aliases.items()]
            return 200, {"aliases": aliases}
        if method == "POST" and path == "/collections/aliases":
            for action in body["actions"]:
                if "create_alias" in action:
                    create = action["create_alias"]
                    self.aliases[create["alias_name"]] = create["collection_name"]
            return 200, True
        match = re.fullmatch(r"/collections/([^/]+)(/exists|/index)?", path)
        if not match:
            return 404, {"status": {"error": f"no route {method} {path}"}}
        name, suffix = match.groups()
        name = self.aliases.get(name, name) if suffix != "/exists" else name
        if suffix == "/exists":
            return 200, {"exists": name in self.collections}
        if method == "PUT" and suffix is None:
            if name in self.collections:
                return 409, {"status": {"error": f"Collection `{name}` already exists!"}}
            self.collections[name] = dict(body, payload_schema={})
            return 200, True
        if name not in self.collections:
            return 404, {"status": {"error": f"Collection `{name}` doesn't exist!"}}
        if method == "GET":
            return 200, self.info(name)
        if method == "DELETE":
            del self.collections[name]
            self.aliases = {a: c for a, c in self.aliases.items() if c != name}
            return 200, True
        if method == "PATCH" and suffix is None:
            metadata = {**(self.collections[name].get("metadata") or {}), **body["metadata"]}
            self.collections[name]["metadata"] = {k: v for k, v in metadata.items() if v}
            return 200, True
        if method == "PUT" and suffix == "/index":
            schema = body["field_schema"]
            data_type = schema["type"] if isinstance(schema, dict) else schema
            entry: dict[str, Any] = {"data_type": data_type, "points": 0}
            if isinstance(schema, dict):
                entry["params"] = schema
            self.collections[name]["payload_schema"][body["field_name"]] = entry
            return 200, {"operation_id": 1, "status": "completed"}
        return 404, {"status": {"error": f"no route {method} {path}"}}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _respond(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?")[0]
                standin.requests.append((self.command, self.path, body))
                status, result = standin.route(self.command, path, body)
                if status == 200:
                    payload = {"result": result, "status": "ok", "time": 0.0}
                else:
                    payload = result
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _respond

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
