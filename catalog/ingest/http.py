"""A polite HTTP client for shops' APIs: timeouts, retries with backoff, Retry-After, a
minimum interval between requests, and errors that name the shop but no credentials."""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

RETRY_STATUSES = {429, 500, 502, 503, 504}


class FetchError(Exception):
    """A remote source failed for good: the import stops and nothing is pruned."""


@dataclass(frozen=True)
class HttpPolicy:
    timeout: float = 30.0
    retries: int = 5
    backoff: float = 1.0  # first retry waits about this long, then doubling
    max_backoff: float = 60.0
    max_retry_after: float = 300.0
    min_interval: float = 0.5  # between two requests to the same shop

    @classmethod
    def from_settings(cls) -> HttpPolicy:
        from django.conf import settings

        return cls(**getattr(settings, "IMPORT_HTTP", {}))


def public_url(url: str) -> str:
    """The URL without credentials or query string, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


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
        delay = min(self.policy.max_backoff, self.policy.backoff * 2 ** (attempt - 1))
        return delay * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> tuple[Any, httpx.Headers]:
        where = public_url(url)
        attempts = self.policy.retries + 1
        for attempt in range(1, attempts + 1):
            self._wait_turn()
            try:
                response = self._client.get(url, params=params)
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
            return self._parse(response, where)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _parse(response: httpx.Response, where: str) -> tuple[Any, httpx.Headers]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            if body is None:
                raise FetchError(f"{where}: the answer is not JSON (is this a WooCommerce API?).")
            return body, response.headers
        code = body.get("code", "") if isinstance(body, dict) else ""
        message = body.get("message", "") if isinstance(body, dict) else ""
        status = response.status_code
        if status == 404 and code == "rest_no_route":
            raise FetchError(
                f"{where}: no such API route (404 rest_no_route). Check the URL, and that "
                "WooCommerce is installed and its REST API enabled."
            )
        if status in (401, 403):
            raise FetchError(
                f"{where}: access refused ({status} {code or response.reason_phrase}). Check "
                "WOOCOMMERCE_CONSUMER_KEY and WOOCOMMERCE_CONSUMER_SECRET, and that the key "
                "may read products."
            )
        detail = f" {code}: {message}" if code else f" {response.reason_phrase}"
        raise FetchError(f"{where}: HTTP {status}{detail}".rstrip())
