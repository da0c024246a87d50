"""A WooCommerce-shaped shop on real HTTP over 127.0.0.1, for import tests."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.helpers import LoopbackHTTPServer

Response = tuple[int, dict[str, str], Any]
Handler = Callable[[dict[str, str]], Response]


class ShopServer(LoopbackHTTPServer):
    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        # (time, path, query, Authorization header) of every request, in order.
        self.requests: list[tuple[float, str, dict[str, str], str | None]] = []
        super().__init__(self._handler())

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [query for _, p, query, _ in self.requests if p == path]

    def paginate(self, path: str, products: list[dict[str, Any]]) -> None:
        """Serve `products` the way WordPress does: per_page/page, X-WP-Total(Pages)."""

        def handle(query: dict[str, str]) -> Response:
            per_page = int(query.get("per_page", 10))
            page = int(query.get("page", 1))
            pages = max(1, math.ceil(len(products) / per_page))
            headers = {"X-WP-Total": str(len(products)), "X-WP-TotalPages": str(pages)}
            return 200, headers, products[(page - 1) * per_page : page * per_page]

        self.routes[path] = handle

    def alter(self, path: str, change: Callable[[dict[str, str], Response], Response]) -> None:
        """From now on, answer `path` with change(query, the answer it gave so far)."""
        normal = self.routes[path]
        self.routes[path] = lambda query: change(query, normal(query))

    def fail_first(self, path: str, *responses: Response) -> None:
        """Answer the next requests to `path` with `responses`, then as before."""
        normal = self.routes[path]
        pending = list(responses)

        def handle(query: dict[str, str]) -> Response:
            return pending.pop(0) if pending else normal(query)

        self.routes[path] = handle

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        shop = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                shop.requests.append(
                    (time.monotonic(), parts.path, query, self.headers.get("Authorization"))
                )
                route = shop.routes.get(parts.path)
                if route is None:
                    status, headers, body = (
                        404,
                        {},
                        {
                            "code": "rest_no_route",
                            "message": "No route was found matching the URL and request method.",
                            "data": {"status": 404},
                        },
                    )
                else:
                    status, headers, body = route(query)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
