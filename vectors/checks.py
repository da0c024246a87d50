"""System checks for the Qdrant settings and the live collection.

Settings checks read settings only and run with every command. Live checks talk to Qdrant,
so like Django's database checks they run only when asked: `manage.py check --deploy`
(add `--tag qdrant` for just these), with QDRANT_CHECK_TIMEOUT.
"""

import contextlib

from django.core.checks import Error, Warning, register

from vectors.conf import ConfigProblem, Engine, parse_qdrant_settings

SETTINGS_CHECK_IDS = {
    "vector_size": "vectors.E001",
    "distance": "vectors.E002",
    "url": "vectors.E003",
    "server_and_path": "vectors.E004",
    "value": "vectors.E005",
}
SETTINGS_HINTS = {
    "vector_size": "Set QDRANT_VECTOR_SIZE to the embedding model's dimension (768 for "
    "Marqo FashionSigLIP).",
    "distance": "Set QDRANT_DISTANCE to cosine, dot, euclid or manhattan.",
    "url": "Set QDRANT_URL (http://localhost:6333) or QDRANT_HOST with QDRANT_PORT, not both.",
    "server_and_path": "Unset QDRANT_PATH to use the server, or unset QDRANT_URL/QDRANT_HOST "
    "to run Qdrant embedded.",
    "value": "Fix the value in the environment or .env (see .env.example).",
}
ENSURE_HINT = "Run manage.py ensure_qdrant_collection."


def _settings():
    from django.conf import settings

    return parse_qdrant_settings(getattr(settings, "QDRANT", {}))


def _settings_error(problem: ConfigProblem) -> Error:
    return Error(
        problem.message,
        hint=SETTINGS_HINTS[problem.kind],
        id=SETTINGS_CHECK_IDS[problem.kind],
    )


@register("qdrant")
def check_qdrant_settings(app_configs=None, **kwargs):
    _, problems = _settings()
    return [_settings_error(problem) for problem in problems]


@register("qdrant")
def check_embedder_setting(app_configs=None, **kwargs):
    from django.conf import settings

    from vectors.embedders import EMBEDDERS

    if settings.VECTORS_EMBEDDER in EMBEDDERS:
        return []
    return [
        Error(
            f"VECTORS_EMBEDDER must be one of {', '.join(EMBEDDERS)}, not "
            f"{settings.VECTORS_EMBEDDER!r}.",
            hint="Use hashing for development, fashion-siglip (with VECTORS_MODEL_DIR) in "
            "production.",
            id="vectors.E006",
        )
    ]


@register()
def check_metrics_settings(app_configs=None, **kwargs):
    """METRICS_ALLOWED_IPS: each entry an address or a network (CIDR)."""
    import ipaddress

    from django.conf import settings

    errors = []
    for entry in getattr(settings, "METRICS_ALLOWED_IPS", []):
        try:
            ipaddress.ip_network(entry.strip(), strict=False)
        except ValueError:
            errors.append(
                Error(
                    f"METRICS_ALLOWED_IPS holds {entry!r}, which is no address or network.",
                    hint="Use addresses or networks such as 10.0.0.5 or 10.0.0.0/8.",
                    id="vectors.E021",
                )
            )
    return errors


@register()
def check_api_rate_limit(app_configs=None, **kwargs):
    """API_RATE_LIMIT in django-ninja's syntax: a bad one would make every search a 500."""
    import re

    from django.conf import settings

    rate = getattr(settings, "API_RATE_LIMIT", None)
    if not rate or re.fullmatch(r"[1-9]\d*/(s|m|h|d)[a-z]*", rate):
        return []
    return [
        Error(
            f"API_RATE_LIMIT must be requests per period such as 120/m, not {rate!r}.",
            hint="Periods: s, m, h, d (10/s, 120/m, 5000/h); empty turns the limit off.",
            id="vectors.E022",
        )
    ]


@register("qdrant", deploy=True)
def check_embedder_dimension(app_configs=None, **kwargs):
    """Loads the model once (so only under --deploy): its vectors must fit the collection."""
    from django.conf import settings

    from vectors.embedders import EMBEDDERS, get_embedder

    config, problems = _settings()
    if problems or settings.VECTORS_EMBEDDER not in EMBEDDERS:
        return []
    from vectors.exceptions import EmbedderUnavailable

    try:
        embedder = get_embedder()
    except EmbedderUnavailable as exc:
        return [
            Error(
                f"The {settings.VECTORS_EMBEDDER} embedder cannot be loaded: {exc}",
                hint="Install requirements-vision.txt and put the model in VECTORS_MODEL_DIR.",
                id="vectors.E007",
            )
        ]
    if embedder.dimension != config.vector_size:
        return [
            Error(
                f"The {embedder.name} embedder makes {embedder.dimension}-dimensional vectors; "
                f"QDRANT_VECTOR_SIZE is {config.vector_size}.",
                hint="Set QDRANT_VECTOR_SIZE to the model's dimension and re-index "
                "(manage.py reindex_vectors), or use the matching model.",
                id="vectors.E008",
            )
        ]
    return []


@register("qdrant", deploy=True)
def check_model_files(app_configs=None, **kwargs):
    """Every file of the published export the embedder reads, named when missing: without
    the text tower, searching by words fails while products still embed."""
    from django.conf import settings

    from vectors.embedders.model_files import PRECISIONS, missing_files

    if settings.VECTORS_EMBEDDER != "fashion-siglip":
        return []
    if settings.VECTORS_MODEL_PRECISION not in PRECISIONS:
        return [
            Error(
                f"VECTORS_MODEL_PRECISION must be one of {', '.join(PRECISIONS)}, not "
                f"{settings.VECTORS_MODEL_PRECISION!r}.",
                id="vectors.E024",
            )
        ]
    missing = missing_files(settings.VECTORS_MODEL_DIR, settings.VECTORS_MODEL_PRECISION)
    if not missing:
        return []
    return [
        Error(
            f"VECTORS_MODEL_DIR ({settings.VECTORS_MODEL_DIR}) lacks {', '.join(missing)}.",
            hint="Run `manage.py download_model` (it resumes and keeps what is there).",
            id="vectors.E023",
        )
    ]


@register("qdrant", deploy=True)
def check_onnx_providers(app_configs=None, **kwargs):
    """ONNX Runtime quietly falls back to the next provider (in the end, the CPU) when one
    asked for is missing: a GPU worker would run at CPU speed without saying so."""
    from django.conf import settings

    if settings.VECTORS_EMBEDDER != "fashion-siglip":
        return []
    try:
        import onnxruntime
    except ImportError:
        return []  # E007 says the embedder cannot load
    available = set(onnxruntime.get_available_providers())
    missing = [p for p in settings.VECTORS_ONNX_PROVIDERS if p not in available]
    if not missing:
        return []
    return [
        Warning(
            f"VECTORS_ONNX_PROVIDERS asks for {', '.join(missing)}, which this ONNX Runtime "
            f"does not have (it has {', '.join(sorted(available))}).",
            hint="Install the matching build (onnxruntime-gpu for CUDAExecutionProvider) "
            "or remove the provider from VECTORS_ONNX_PROVIDERS.",
            id="vectors.W017",
        )
    ]


@register("qdrant", deploy=True)
def check_disk_space(app_configs=None, **kwargs):
    """An embedded store's disk: below QDRANT_MIN_FREE_MB, writes to it are refused."""
    from vectors.disk import low_disk

    config, problems = _settings()
    if problems or config.engine is not Engine.EDGE:
        return []
    problem = low_disk(config)
    if problem is None:
        return []
    return [
        Warning(
            problem,
            hint="Free space on that disk (or move QDRANT_PATH to a larger one); sync_vectors "
            "then delivers what waited.",
            id="vectors.W019",
        )
    ]


@register("qdrant", deploy=True)
def check_qdrant_collection(app_configs=None, **kwargs):
    # Imported here so that a plain `manage.py check` never loads the client.
    from vectors.client import get_qdrant_client
    from vectors.collection import LEGACY_STORE_NOTICE, collection_inspect, unindexed_backlog
    from vectors.exceptions import CollectionNotFound, VectorStoreError, VectorStoreUnavailable

    config, problems = _settings()
    if problems:
        return []  # check_qdrant_settings reports them; nothing sensible to connect to
    messages = []
    try:
        client = get_qdrant_client(probe=True)
        if client.legacy_store():
            messages.append(
                Warning(
                    LEGACY_STORE_NOTICE,
                    hint="reindex_vectors builds the new store, then removes the old files.",
                    id="vectors.W018",
                )
            )
        state = collection_inspect(client=client, config=config)
    except VectorStoreUnavailable as exc:
        return [
            Error(
                str(exc),
                hint="Start Qdrant (docker compose up -d qdrant) or fix QDRANT_URL / "
                "QDRANT_HOST / QDRANT_API_KEY.",
                id="vectors.E010",
            )
        ]
    except CollectionNotFound:
        return [
            *messages,
            Error(
                f"Qdrant collection {config.collection!r} does not exist in {config.label}.",
                hint=ENSURE_HINT,
                id="vectors.E011",
            ),
        ]
    except VectorStoreError as exc:
        return [*messages, Error(f"Qdrant error: {exc}", hint=ENSURE_HINT, id="vectors.E015")]

    for difference in state.differences:
        where = f"Qdrant collection {config.collection!r}"
        if difference.setting == "vector size":
            messages.append(
                Error(
                    f"{where} holds {difference.found}-dimensional vectors; "
                    f"QDRANT_VECTOR_SIZE is {difference.expected}.",
                    hint="Use a collection of the right size: manage.py ensure_qdrant_collection "
                    "--recreate (deletes its points), or fix QDRANT_VECTOR_SIZE.",
                    id="vectors.E012",
                )
            )
        elif difference.blocking:
            messages.append(
                Error(
                    f"{where}: {difference}.",
                    hint="Use a collection with the configured distance: manage.py "
                    "ensure_qdrant_collection --recreate (deletes its points), or fix "
                    "QDRANT_DISTANCE.",
                    id="vectors.E013",
                )
            )
        else:
            messages.append(
                Warning(
                    f"{where}: {difference}.",
                    hint="Options other than size and distance only apply when a collection is "
                    "created; recreate it to change them.",
                    id="vectors.W014",
                )
            )
    with contextlib.suppress(VectorStoreError):  # reported above if it matters
        if backlog := unindexed_backlog(client=client, config=config):
            messages.append(
                Warning(
                    f"{backlog:,} vectors in Qdrant collection {config.collection!r} are not "
                    "in its HNSW index: searches scan them one by one (an index build was "
                    "interrupted, or the web server delivered them; it never builds).",
                    hint="Run manage.py sync_vectors (or optimize_vectors), with the web "
                    "server stopped if it owns the embedded store.",
                    id="vectors.W020",
                )
            )
    if state.missing_indexes:
        messages.append(
            Warning(
                f"Qdrant collection {config.collection!r} lacks payload indexes: "
                f"{', '.join(state.missing_indexes)}.",
                hint=ENSURE_HINT,
                id="vectors.W016",
            )
        )
    return messages
