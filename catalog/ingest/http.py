"""A polite HTTP client for shops' APIs: timeouts, retries with backoff, Retry-After, a
minimum interval between requests, and errors that name the shop but no credentials."""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from catalog.exceptions import FetchError
from config.backoff import Backoff

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass(frozen=True)
class HttpPolicy:
    timeout: float = 30.0
    retries: int = 5
    backoff: float = 1.0  # first retry waits about this long, then doubling
    max_backoff: float = 60.0
    max_retry_after: float = 300.0
    min_interval: float = 0.5  # between two requests to the same shop
    # One page of 100 products is well under a megabyte; a shop (or something in front of
    # it) sending more is not sending products, and must not fill this process's memory.
    max_page_bytes: int = 64 * 1024 * 1024

    @classmethod
    def from_settings(cls) -> HttpPolicy:
        from django.conf import settings

        return cls(**getattr(settings, "IMPORT_HTTP", {}))


# Query parameters that may carry a secret (WooCommerce accepts consumer_key and
# consumer_secret in the query): never shown in a message.
_SECRET_PARAM = re.compile(r"key|secret|token|pass|auth|sig|nonce", re.IGNORECASE)


def public_url(url: str) -> str:
    """The URL for messages: without user name, password or secret-looking parameters."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not _SECRET_PARAM.search(pair.partition("=")[0])
    )
    return urlunsplit((parts.scheme, host + port, parts.path, query, ""))


def with_params(url: str, params: dict[str, Any]) -> str:
    """`url` with `params` merged into its own query string, which is kept as it was written
    (a plain-permalink shop's `?rest_route=/wc/store/v1/products`, a `?category=22` filter);
    a parameter of ours replaces one of the same name."""
    parts = urlsplit(url)
    kept = [
        pair for pair in parts.query.split("&") if pair and pair.partition("=")[0] not in params
    ]
    ours = [f"{quote(str(k), safe='')}={quote(str(v), safe='')}" for k, v in params.items()]
    return urlunsplit((*parts[:3], "&".join(kept + ours), parts.fragment))


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class PoliteClient:
    def __init__(
        self,
        *,
        policy: HttpPolicy,
        auth: tuple[str, str] | None = None,
        sleep=time.sleep,
    ):
        self.policy = policy
        self._sleep = sleep
        self._last_request = 0.0
        self._client = httpx.Client(
            timeout=policy.timeout,
            auth=auth,
            follow_redirects=True,
            headers={
                "User-Agent": "fashion-catalog-importer/1.0",
                "Accept": "application/json",
            },
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_turn(self) -> None:
        wait = self._last_request + self.policy.min_interval - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        self._last_request = time.monotonic()

    def _backoff(self, attempt: int) -> float:
        return Backoff(self.policy.backoff, self.policy.max_backoff, jitter=True).delay(attempt)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Headers]:
        text, headers = self.get_text(url, params)
        body = _loads(text)
        if body is None:
            raise FetchError(
                f"{public_url(url)}: the answer is not JSON (is this a WooCommerce API?)."
            )
        return body, headers

    def get_text(self, url: str, params: dict[str, Any] | None = None) -> tuple[str, httpx.Headers]:
        """A successful answer's body as text (bytes that are not UTF-8 become lone
        surrogates, rejected later with the one record holding them), and its headers."""
        where = public_url(url)
        target = with_params(url, params) if params else url
        attempts = self.policy.retries + 1
        for attempt in range(1, attempts + 1):
            self._wait_turn()
            try:
                response, body = self._get_bounded(target, where)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise FetchError(
                        f"{where}: {type(exc).__name__}: {exc or 'no answer'}"
                    ) from exc
                delay = self._backoff(attempt)
                logger.warning("%s: %s, retrying in %.1fs", where, type(exc).__name__, delay)
                self._sleep(delay)
                continue
            if response.status_code in RETRY_STATUSES and attempt < attempts:
                delay = retry_after_seconds(response.headers.get("Retry-After"))
                if delay is None:
                    delay = self._backoff(attempt)
                elif delay > self.policy.max_retry_after:
                    raise FetchError(
                        f"{where}: {response.status_code}, and the shop asks to wait "
                        f"{delay:.0f}s (more than {self.policy.max_retry_after:.0f}s)."
                    )
                logger.warning(
                    "%s: %s, retrying in %.1fs (attempt %d of %d)",
                    where,
                    response.status_code,
                    delay,
                    attempt + 1,
                    attempts,
                )
                self._sleep(delay)
                continue
            if response.is_success:
                text = body.decode("utf-8", "surrogateescape")
                return text.removeprefix("\ufeff"), response.headers  # some plugins add a BOM
            raise _refusal(response, body, where)
        raise AssertionError("unreachable")  # pragma: no cover

    def _get_bounded(self, target: str, where: str) -> tuple[httpx.Response, bytes]:
        """The response and its body, read while streaming up to max_page_bytes."""
        limit = self.policy.max_page_bytes
        too_big = FetchError(f"{where}: the answer is larger than {limit:,} bytes.")
        with self._client.stream("GET", target) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > limit:
                raise too_big
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise too_big
        return response, bytes(body)


def _loads(text: str) -> Any:
    """JSON, or None for anything that is not (including JSON too deep to decode)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _refusal(response: httpx.Response, content: bytes, where: str) -> FetchError:
    """The error for an unsuccessful answer, with WordPress's error code when it gave one."""
    body = _loads(content.decode("utf-8", "replace"))
    code = body.get("code", "") if isinstance(body, dict) else ""
    message = body.get("message", "") if isinstance(body, dict) else ""
    code = code if isinstance(code, str) else ""
    message = message if isinstance(message, str) else ""
    status = response.status_code
    if status == 404 and code == "rest_no_route":
        text = (
            f"{where}: no such API route (404 rest_no_route). Check the URL, and that "
            "WooCommerce is installed and its REST API enabled."
        )
    elif status in (401, 403):
        text = (
            f"{where}: access refused ({status} {code or response.reason_phrase}). Check "
            "WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET, and that the key "
            "may read this route."
        )
    else:
        detail = ": ".join(filter(None, [code, message[:200]])) or response.reason_phrase
        text = f"{where}: HTTP {status} {detail}".rstrip()
    return FetchError(text, status=status, code=code)
