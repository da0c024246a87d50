"""Fetching shops' product images without letting a shop's URL reach inside our network.

Image URLs come from shops we do not control, and the sync worker runs inside the
deployment's network, next to PostgreSQL, Qdrant and cloud metadata services. So:

- Every connection goes through `GuardedBackend.connect_tcp`: the host is resolved once, every
  address it resolves to is checked (loopback, private, link-local, unique-local, CGNAT,
  multicast, unspecified and reserved addresses are refused, also when embedded in IPv6:
  IPv4-mapped, 6to4, NAT64, Teredo), and the connection is made to the checked address, so a
  second DNS answer cannot swap it (DNS rebinding). Redirects are followed (at most
  MAX_REDIRECTS), and each hop connects through the same check. No proxy from the
  environment is used: it would be the address checked instead of the shop's.
  `VECTORS_IMAGE_ALLOW_PRIVATE` lifts the private-address refusal for development and tests.
- A whole fetch, from DNS to the last byte, is bounded by one deadline (VECTORS_IMAGE_TIMEOUT):
  each socket read is given only the time left, so a server trickling bytes is cut off.
- Every failure, of any kind, is that product's `EmbedFailure` with a reason; nothing raised
  for one URL reaches the batch.

httpx does not let a caller choose its network backend, so `ImageFetcher` gives its transport
an httpcore pool built with ours (`transport._pool`): re-check it on an httpx upgrade (the
SSRF tests in tests/vectors/test_image_fetch.py fail if the check stops applying).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass

import httpcore
import httpx

from config.errors import describe
from vectors.embedders.base import EmbedFailure

MAX_REDIRECTS = 3
PER_HOST = 4  # fetches in flight to one host: shops' CDNs deserve politeness
USER_AGENT = "fashion-catalog-images/1.0"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class FetchRefused(Exception):
    """The URL leads to an address we do not fetch from."""


def address_problem(address: str, *, allow_private: bool) -> str | None:
    """Why we do not connect to this IP address, or None when we may."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_problem(str(embedded), allow_private=allow_private)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if allow_private:
        return None
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "a shared (CGNAT) address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


class _Deadline(threading.local):
    """The current fetch's deadline (time.monotonic()), per thread: connections are pooled
    and may serve another thread's fetch next."""

    at: float | None = None

    def left(self, timeout: float | None, error: type[Exception]) -> float | None:
        if self.at is None:
            return timeout
        remaining = self.at - time.monotonic()
        if remaining <= 0:
            raise error("the image took longer than its time limit")
        return remaining if timeout is None else min(timeout, remaining)


_deadline = _Deadline()
_resolver = ThreadPoolExecutor(8, thread_name_prefix="image-dns")


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write gets only the time left to its fetch."""

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _deadline.left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _deadline.left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = _deadline.left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


class GuardedBackend(httpcore.SyncBackend):
    """Resolve once, check every address, connect to the checked one."""

    def __init__(self, *, allow_private: bool):
        self.allow_private = allow_private

    def connect_tcp(
        self, host, port, timeout=None, local_address=None, socket_options=None
    ) -> httpcore.NetworkStream:
        timeout = _deadline.left(timeout, httpcore.ConnectTimeout)
        lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = lookup.result(timeout=timeout)
        except FutureTimeout:
            raise httpcore.ConnectTimeout(f"looking up {host} took too long") from None
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for address in addresses:
            problem = address_problem(address, allow_private=self.allow_private)
            if problem:
                shown = "" if address == host else f" resolves to {address},"
                raise FetchRefused(f"{host}{shown} {problem}")
        stream = super().connect_tcp(
            addresses[0],
            port,
            timeout=_deadline.left(timeout, httpcore.ConnectTimeout),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream)


@dataclass(frozen=True)
class FetchLimits:
    timeout: float = 10.0  # seconds for a whole fetch, DNS to last byte
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000  # a decompression bomb is refused before decoding
    allow_private: bool = False


class ImageFetcher:
    """Safe, bounded image fetches; thread-safe (one instance serves a pool of threads)."""

    def __init__(self, limits: FetchLimits, *, connections: int = 32):
        self.limits = limits
        transport = httpx.HTTPTransport(trust_env=False)
        transport._pool = httpcore.ConnectionPool(  # see the module docstring
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=connections,
            network_backend=GuardedBackend(allow_private=limits.allow_private),
        )
        self.client = httpx.Client(
            transport=transport,
            trust_env=False,
            follow_redirects=True,
            max_redirects=MAX_REDIRECTS,
            headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
            timeout=limits.timeout,
        )
        self._hosts: dict[str, threading.Semaphore] = {}
        self._hosts_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    @contextmanager
    def _turn(self, url: str):
        try:
            host = httpx.URL(url).host
        except Exception:  # a URL httpx cannot parse fails in fetch() below
            host = ""
        with self._hosts_lock:
            gate = self._hosts.setdefault(host, threading.Semaphore(PER_HOST))
        with gate:
            yield

    def fetch(self, url: str) -> bytes | EmbedFailure:
        """The image's bytes, or the reason it could not be had. Never raises."""
        if not url:
            return EmbedFailure("no image URL", retry=False)
        limits = self.limits
        try:
            with self._turn(url):
                _deadline.at = time.monotonic() + limits.timeout
                return self._get(url)
        except FetchRefused as exc:
            return EmbedFailure(f"image refused: {exc}")
        except httpx.TimeoutException:
            return EmbedFailure(f"image took longer than {limits.timeout:g}s")
        except httpx.TooManyRedirects:
            return EmbedFailure(f"image redirected more than {MAX_REDIRECTS} times")
        except Exception as exc:  # any failure is this product's, never the batch's
            return EmbedFailure(f"image fetch failed: {describe(exc, limit=200)}")
        finally:
            _deadline.at = None

    def _get(self, url: str) -> bytes | EmbedFailure:
        limits = self.limits
        with self.client.stream("GET", url) as response:
            if response.status_code != 200:
                return EmbedFailure(f"image answered HTTP {response.status_code}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not content_type.startswith("image/"):
                return EmbedFailure(f"not an image (Content-Type {content_type or 'missing'})")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limits.max_bytes:
                return EmbedFailure(f"image larger than {limits.max_bytes} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limits.max_bytes:
                    return EmbedFailure(f"image larger than {limits.max_bytes} bytes")
            return bytes(body)
