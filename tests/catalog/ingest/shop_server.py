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
        # (time, route, query, Authorization header) of every request, in order. The route
        # is the path, or the `rest_route` parameter of a shop without pretty permalinks.
        self.requests: list[tuple[float, str, dict[str, str], str | None]] = []
        super().__init__(self._handler())

    def requests_to(self, path: str) -> list[dict[str, str]]:
        return [query for _, p, query, _ in self.requests if p == path]

    def paginate(
        self,
        path: str,
        products: list[dict[str, Any]],
        *,
        headers: bool = True,
        max_per_page: int = 100,
        past_the_end: str = "empty",
    ) -> None:
        """Serve `products` the way WordPress does: per_page/page, X-WP-Total(Pages).

        `headers=False`: as behind a page cache or proxy that drops the X-WP-* headers;
        `max_per_page`: a shop that quietly serves fewer per page than asked;
        `past_the_end`: "empty" (WooCommerce's controllers answer []) or "400" (WordPress's
        posts controller: rest_post_invalid_page_number)."""

        def handle(query: dict[str, str]) -> Response:
            per_page = min(int(query.get("per_page", 10)), max_per_page)
            page = int(query.get("page", 1))
            pages = max(1, math.ceil(len(products) / per_page))
            extra = {"X-WP-Total": str(len(products)), "X-WP-TotalPages": str(pages)}
            if page > pages and past_the_end == "400":
                return (
                    400,
                    {},
                    {
                        "code": "rest_post_invalid_page_number",
                        "message": "The page number requested is larger than the number of pages "
                        "available.",
                        "data": {"status": 400},
                    },
                )
            return 200, extra if headers else {}, products[(page - 1) * per_page : page * per_page]

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
                path = query.get("rest_route", parts.path)
                shop.requests.append(
                    (time.monotonic(), path, query, self.headers.get("Authorization"))
                )
                route = shop.routes.get(path)
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
                # Raw bytes go out as they are: broken encodings, JSON too deep to decode.
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
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
