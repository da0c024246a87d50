"""The Qdrant settings, parsed and validated once.

config/settings.py keeps the raw environment values in `settings.QDRANT` so that a bad value
becomes a system-check message (vectors.E001...) instead of a crash at import time. Everything
else reads the parsed `QdrantConfig` from `qdrant_config()`.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

DISTANCES = {"cosine": "Cosine", "dot": "Dot", "euclid": "Euclid", "manhattan": "Manhattan"}
QUANTIZATIONS = ("", "none", "int8")
TRUE_VALUES = {"1", "true", "yes", "on"}
FALSE_VALUES = {"", "0", "false", "no", "off"}
MAX_VECTOR_SIZE = 65_536  # Qdrant's own limit


class Engine(StrEnum):
    """Which Qdrant runs the collection: the one name used in code, logs, /healthz and tests."""

    SERVER = "server"  # a Qdrant server at QDRANT_URL or QDRANT_HOST
    EDGE = "edge"  # Qdrant Edge, embedded in this process, under QDRANT_PATH
    MEMORY = "memory"  # qdrant-client's local mode in memory (QDRANT_PATH=:memory:): a test double

    @property
    def in_process(self) -> bool:
        """Edge and the in-memory stand-in live in the process that opened them."""
        return self is not Engine.SERVER


@dataclass(frozen=True)
class ConfigProblem:
    """One invalid setting: the environment variable and what is wrong with it."""

    variable: str
    message: str
    kind: str  # "vector_size" | "distance" | "url" | "server_and_path" | "value"


@dataclass(frozen=True)
class QdrantConfig:
    url: str | None = None
    host: str | None = None
    port: int = 6333
    grpc_port: int = 6334
    https: bool | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 10.0
    check_timeout: float = 3.0
    prefer_grpc: bool = False
    path: str | None = None
    collection: str = "products"
    vector_size: int = 768
    distance: str = "Cosine"
    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None
    on_disk_vectors: bool = False
    quantization: str | None = None
    # Embedded store: writes stop while less than this stays free on its disk (vectors/disk.py).
    min_free_mb: int = 1024

    @property
    def engine(self) -> Engine:
        if self.url or self.host:
            return Engine.SERVER
        return Engine.MEMORY if self.path == ":memory:" else Engine.EDGE

    @property
    def label(self) -> str:
        """Where Qdrant is, for messages: never the API key or URL credentials."""
        if self.engine is Engine.MEMORY:
            return "in-memory Qdrant (qdrant-client local mode)"
        if self.engine is Engine.EDGE:
            return f"embedded Qdrant at {self.path}"
        if self.url:
            parts = urlsplit(self.url)
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            return f"Qdrant at {parts.scheme}://{host}{port}{parts.path.rstrip('/')}"
        scheme = "https" if self.https else "http"
        return f"Qdrant at {scheme}://{self.host}:{self.port}"


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value).strip()


class _Parser:
    """Collects every problem instead of stopping at the first, for the system checks."""

    def __init__(self, raw: Mapping[str, Any]):
        self.raw = raw
        self.problems: list[ConfigProblem] = []

    def problem(self, key: str, message: str, kind: str = "value") -> None:
        self.problems.append(ConfigProblem(f"QDRANT_{key}", message, kind))

    def integer(
        self,
        key: str,
        *,
        default: int | None,
        minimum: int = 1,
        maximum: int = 2**31 - 1,
        kind: str = "value",
    ) -> int | None:
        text = _text(self.raw, key)
        if not text:
            return default
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not minimum <= value <= maximum:
            self.problem(
                key,
                f"QDRANT_{key} must be an integer from {minimum} to {maximum}, not {text!r}.",
                kind,
            )
            return default
        return value

    def number(self, key: str, *, default: float) -> float:
        text = _text(self.raw, key)
        if not text:
            return default
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            self.problem(key, f"QDRANT_{key} must be a positive number of seconds, not {text!r}.")
            return default
        return value

    def boolean(self, key: str, *, default: bool | None) -> bool | None:
        text = _text(self.raw, key).lower()
        if not text:
            return default
        if text in TRUE_VALUES:
            return True
        if text in FALSE_VALUES:
            return False
        self.problem(key, f"QDRANT_{key} must be true or false, not {text!r}.")
        return default


def parse_qdrant_settings(raw: Mapping[str, Any]) -> tuple[QdrantConfig, list[ConfigProblem]]:
    p = _Parser(raw)
    url = _text(raw, "URL") or None
    host = _text(raw, "HOST") or None
    path = _text(raw, "PATH") or None

    if url:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError on a bad port
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid:
            # The value itself is not echoed: it may carry credentials.
            p.problem(
                "URL",
                "QDRANT_URL must be an http:// or https:// URL with a host, "
                "such as http://localhost:6333.",
                "url",
            )
    if url and host:
        p.problem("HOST", "Set QDRANT_URL or QDRANT_HOST, not both.", "url")
    if (url or host) and path:
        p.problem(
            "PATH",
            "QDRANT_PATH (embedded Qdrant) is set together with a server "
            f"({'QDRANT_URL' if url else 'QDRANT_HOST'}); set only one.",
            "server_and_path",
        )

    distance_text = _text(raw, "DISTANCE").lower() or "cosine"
    distance = DISTANCES.get(distance_text)
    if distance is None:
        p.problem(
            "DISTANCE",
            f"QDRANT_DISTANCE must be one of {', '.join(DISTANCES)}, not {distance_text!r}.",
            "distance",
        )
    quantization = _text(raw, "QUANTIZATION").lower()
    if quantization not in QUANTIZATIONS:
        p.problem(
            "QUANTIZATION", f"QDRANT_QUANTIZATION must be none or int8, not {quantization!r}."
        )
        quantization = ""

    collection = _text(raw, "COLLECTION") or "products"
    config = QdrantConfig(
        url=url,
        host=host,
        port=p.integer("PORT", default=6333, maximum=65_535),
        grpc_port=p.integer("GRPC_PORT", default=6334, maximum=65_535),
        https=p.boolean("HTTPS", default=None),
        api_key=_text(raw, "API_KEY") or None,
        timeout=p.number("TIMEOUT", default=10.0),
        check_timeout=p.number("CHECK_TIMEOUT", default=3.0),
        prefer_grpc=bool(p.boolean("PREFER_GRPC", default=False)),
        path=None if (url or host) else (path or str(Path(settings.BASE_DIR) / "var" / "qdrant")),
        collection=collection,
        vector_size=p.integer(
            "VECTOR_SIZE", default=768, maximum=MAX_VECTOR_SIZE, kind="vector_size"
        ),
        distance=distance or "Cosine",
        shard_number=p.integer("SHARD_NUMBER", default=None),
        replication_factor=p.integer("REPLICATION_FACTOR", default=None),
        write_consistency_factor=p.integer("WRITE_CONSISTENCY_FACTOR", default=None),
        # Embedded, vectors are memory-mapped by default: the page cache keeps the hot ones in
        # RAM, and a million of them (3 GB) need not be.
        on_disk_vectors=bool(
            p.boolean("ON_DISK_VECTORS", default=not (url or host) and path != ":memory:")
        ),
        quantization=quantization if quantization in ("int8",) else None,
        min_free_mb=p.integer("MIN_FREE_MB", default=1024, minimum=0),
    )
    return config, p.problems


def qdrant_config() -> QdrantConfig:
    """The parsed settings; ImproperlyConfigured names every invalid variable."""
    config, problems = parse_qdrant_settings(getattr(settings, "QDRANT", {}))
    if problems:
        raise ImproperlyConfigured(" ".join(problem.message for problem in problems))
    return config
