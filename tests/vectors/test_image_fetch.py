"""Fetching shops' images safely, against servers on 127.0.0.1 that count what
they receive. Every refused form is refused before any connection is made: the
`no_connections_outside_loopback` fixture fails a test that would open one, so no traffic
ever leaves this machine even if the check broke."""

import io
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from PIL import Image

from tests.helpers import LoopbackHTTPServer
from tests.vectors.onnx_models import build_vision_model
from vectors.embedders import ProductInput
from vectors.embedders import fetch as fetch_module
from vectors.embedders.fetch import FetchLimits, ImageFetcher
from vectors.embedders.siglip import FashionSiglipEmbedder


def png(size=(40, 30), colour=(255, 0, 0), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


class CountingServer(LoopbackHTTPServer):
    """Serves routes and counts every request it receives, per path."""

    def __init__(self, routes: dict, host: str = "127.0.0.1"):
        self.routes = routes
        self.received: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.received.append(self.path)
                route = server.routes.get(self.path)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                route(self)

            def log_message(self, *args):
                pass

        super().__init__(Handler)
        if host != "127.0.0.1":  # rebind on another loopback address
            self._server.server_close()
            from http.server import ThreadingHTTPServer

            self._server = ThreadingHTTPServer((host, 0), Handler)
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.host = host

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]


def image_route(body: bytes, content_type: str = "image/png"):
    def send(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return send


def redirect_route(location: str):
    def send(handler):
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return send


@pytest.fixture(autouse=True)
def no_connections_outside_loopback(monkeypatch):
    """Fail, instead of connecting, should anything try to reach beyond 127.0.0.0/8."""
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        host = address[0]
        assert host.startswith("127.") or host == "::1", f"tried to connect to {host}"
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture
def server():
    routes = {"/red.png": image_route(png())}
    with CountingServer(routes) as running:
        yield running


def fetcher(**limits) -> ImageFetcher:
    return ImageFetcher(FetchLimits(**({"timeout": 5.0} | limits)))


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "127.0.0.1 a loopback address"),
        ("localhost", "localhost resolves to 127.0.0.1, a loopback address"),
        ("127.1", "127.1 resolves to 127.0.0.1, a loopback address"),
        ("2130706433", "2130706433 resolves to 127.0.0.1, a loopback address"),
        ("0x7f.1", "0x7f.1 resolves to 127.0.0.1, a loopback address"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 a loopback address"),
    ],
)
def test_loopback_in_any_form_is_refused_and_the_server_receives_nothing(server, host, reason):
    url = f"http://{host}:{server.port}/red.png"
    result = fetcher().fetch(url)
    assert result.reason == f"image refused: {reason}"
    assert server.received == []
    # The same server is reachable when private addresses are allowed (development).
    assert isinstance(fetcher(allow_private=True).fetch(f"{server.base}/red.png"), bytes)
    assert server.received == ["/red.png"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://10.0.0.1/a.jpg", "a private address"),
        ("http://192.168.1.20/a.jpg", "a private address"),
        ("http://172.16.0.5/a.jpg", "a private address"),
        ("http://100.64.0.1/a.jpg", "a shared (CGNAT) address"),
        ("http://224.0.0.1/a.jpg", "a multicast address"),
        ("http://0.0.0.0/a.jpg", "an unspecified address"),
        ("http://[fd00::1]/a.jpg", "a private address"),
        ("http://[fe80::1]/a.jpg", "a link-local address"),
        ("http://[::]/a.jpg", "an unspecified address"),
        ("http://[64:ff9b::a9fe:a9fe]/a.jpg", "a link-local address"),  # NAT64 of 169.254...
        ("http://[2002:a00:1::]/a.jpg", "a private address"),  # 6to4 of 10.0.0.1
        ("http://192.0.2.1/a.jpg", "a private address"),  # documentation range
        ("http://240.0.0.1/a.jpg", "a reserved address"),
    ],
)
def test_internal_addresses_are_refused_before_connecting(url, reason):
    result = fetcher().fetch(url)
    assert result.reason.startswith("image refused: ") and result.reason.endswith(reason)
    assert result.retry


def test_multicast_and_unspecified_stay_refused_when_private_is_allowed():
    assert (
        fetcher(allow_private=True)
        .fetch("http://0.0.0.0/a.jpg")
        .reason.endswith("an unspecified address")
    )


@pytest.fixture
def public_127_0_0_2(monkeypatch):
    """Let 127.0.0.2 stand for a public shop's host (no public host can run here): every
    other address is checked as usual."""
    real = fetch_module.address_problem

    def address_problem(address, *, allow_private):
        return None if address == "127.0.0.2" else real(address, allow_private=allow_private)

    monkeypatch.setattr(fetch_module, "address_problem", address_problem)


def test_a_redirect_to_loopback_is_refused_and_its_target_receives_nothing(
    server, public_127_0_0_2
):
    target = f"{server.base}/red.png"
    with CountingServer({"/a.jpg": redirect_route(target)}, host="127.0.0.2") as shop:
        result = fetcher().fetch(f"{shop.base}/a.jpg")
    assert result.reason == "image refused: 127.0.0.1 a loopback address"
    assert shop.received == ["/a.jpg"]
    assert server.received == []


def test_redirects_are_followed_a_few_times_only(public_127_0_0_2):
    routes = {f"/{i}": redirect_route(f"/{i + 1}") for i in range(10)}
    routes["/3"] = image_route(png())
    with CountingServer(routes, host="127.0.0.2") as shop:
        assert isinstance(fetcher().fetch(f"{shop.base}/0"), bytes)  # three hops
        assert fetcher().fetch(f"{shop.base}/4").reason == "image redirected more than 3 times"


def test_a_trickling_server_is_cut_at_the_whole_fetch_timeout():
    def trickle(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "image/png")
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(100):  # a byte every 0.2 s: 20 s in all, each read well inside 1 s
            try:
                handler.wfile.write(b"x")
                handler.wfile.flush()
            except OSError:
                return
            time.sleep(0.2)

    with CountingServer({"/slow.png": trickle}) as slow:
        started = time.monotonic()
        result = fetcher(timeout=1.0, allow_private=True).fetch(f"{slow.base}/slow.png")
        elapsed = time.monotonic() - started
    assert result.reason == "image took longer than 1s"
    assert elapsed < 5  # cut near the limit, not after the server's 20 s


@pytest.mark.parametrize(
    "url",
    [
        "http://a..b/x.png",
        "http://[::1/x.png",
        "http://xn--zz/x.png",
        "http://bad host/x.png",
        "http://\udce9.example/x.png",
        "ftp://shop.example/x.png",
        "not a url at all",
    ],
)
def test_malformed_urls_fail_their_product_only(url):
    result = fetcher().fetch(url)
    assert result.reason.startswith(("image fetch failed: ", "image refused: "))


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("image/png", True),
        ("IMAGE/PNG", True),
        ("Image/Png; charset=binary", True),
        ("text/html", False),
        ("", False),
    ],
)
def test_content_types_are_case_insensitive(content_type, ok):
    routes = {"/a": image_route(png(), content_type)}
    with CountingServer(routes) as shop:
        result = fetcher(allow_private=True).fetch(f"{shop.base}/a")
    assert isinstance(result, bytes) is ok
    if not ok:
        assert result.reason.startswith("not an image (Content-Type ")


def test_no_image_url_is_not_retried_on_a_timer():
    result = fetcher().fetch("")
    assert (result.reason, result.retry) == ("no image URL", False)


# --- In the embedder: each failure is one product's --------------------------------------

DIM = 768


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("siglip")
    build_vision_model(folder, np.random.default_rng(0).standard_normal((3, DIM)).astype("f4"))
    return folder


def bomb(side: int) -> bytes:
    """A side x side image in a few kilobytes: refused before it is decoded."""
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_bad_urls_images_and_a_model_error_fail_alone(model_dir, monkeypatch):
    routes = {
        "/red.png": image_route(png()),
        "/blue.png": image_route(png(colour=(0, 0, 255))),
        "/upper.png": image_route(png(colour=(0, 255, 0)), "IMAGE/PNG"),
        "/page": image_route(b"<html></html>", "text/html"),
        "/bomb.png": image_route(bomb(8_000)),  # over our 40 Mpx limit
        "/bigger.png": image_route(bomb(20_000)),  # over Pillow's own
    }
    embedder = FashionSiglipEmbedder(
        model_dir=str(model_dir), limits=FetchLimits(timeout=5, allow_private=True), batch=4
    )
    real_run = embedder._run

    def run(batch):  # the model chokes on pure blue, as a model may on one odd input
        if any(np.allclose(image[2], 1.0) and np.allclose(image[0], -1.0) for image in batch):
            raise RuntimeError("ONNXRuntimeError: bad input")
        return real_run(batch)

    monkeypatch.setattr(embedder, "_run", run)
    with CountingServer(routes) as shop:
        urls = [
            f"{shop.base}/red.png",
            "http://a..b/x.png",
            f"{shop.base}/page",
            f"{shop.base}/bomb.png",
            f"{shop.base}/blue.png",
            f"{shop.base}/upper.png",
            "",
            f"{shop.base}/bigger.png",
        ]
        results = embedder.embed(
            [
                ProductInput(id=str(i), title="", description="", image_url=u)
                for i, u in enumerate(urls)
            ]
        )
    reasons = [getattr(r, "reason", "ok") for r in results]
    assert reasons[0] == "ok" and reasons[5] == "ok"
    assert reasons[1].startswith("image fetch failed: ")
    assert reasons[2] == "not an image (Content-Type text/html)"
    assert reasons[3] == "image of 8000x8000 pixels is too large"
    assert reasons[4] == "model failed: RuntimeError: ONNXRuntimeError: bad input"
    assert reasons[6] == "no image URL"
    assert reasons[7] == "image is too large to decode (a decompression bomb)"
