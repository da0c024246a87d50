"""Settings for the catalog project.

Every value that differs between machines is read from the environment here, in one place
(a `.env` file beside manage.py is read too; real environment variables win over it).
The README's configuration table lists each variable.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# DJANGO_ENV_FILE names another file, or none when empty (the test suite's subprocesses).
if env_file := env.str("DJANGO_ENV_FILE", default=str(BASE_DIR / ".env")):
    environ.Env.read_env(env_file)

# ------------------------------------------------------------------------------
# Core
# ------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    # Only a development machine may run without a key of its own.
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="django-insecure-local-development-only")
elif not (SECRET_KEY := env.str("DJANGO_SECRET_KEY", default="")):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off "
        "(set DJANGO_DEBUG=1 for local development)."
    )

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",
    "corsheaders",
    "pgtrigger",
    # django-ninja: the /api/ surface (vectors/api.py); listed for its OpenAPI page's assets.
    "ninja",
    "catalog",
    "vectors",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that may answer (CommonMiddleware), as django-cors-headers asks.
    "corsheaders.middleware.CorsMiddleware",
    # Every /api/ answer JSON, whoever made it (an unknown URL, a wrong method, a 500).
    "config.api_errors.JsonErrorsForApi",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # The product admin's one template tag lives with the rest of it (catalog/admin/).
            "libraries": {"catalog_admin": "catalog.admin.templatetags"},
        },
    },
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
# The admin is English only (no LocaleMiddleware, one LANGUAGE_CODE): translation lookups
# would return every string unchanged, at a cost on each one (Django's own advice: turn it
# off when not translating). Formats still come from the "en" locale.
USE_I18N = False
USE_TZ = True

# ------------------------------------------------------------------------------
# Database
# ------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/catalog"),
}
# A server that is down should fail a command in seconds, not hang it.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
    "connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5)
)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
# A connection the server dropped (a restart) is replaced before it is used again.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A web process takes its connections from a pool of at most DATABASE_POOL_MAX_SIZE
# (psycopg's, as Django offers it; config/pooling.py turns it on in config/wsgi.py and
# asgi.py): however many requests arrive at once, it never opens more, and a request that
# finds them all busy waits DATABASE_POOL_TIMEOUT seconds for one. Without it, runserver
# opened one connection per request thread and ran the server out of connections under a
# handful of clients. Size it to the web server's threads plus two (the embedded store's
# sync loop and its lease heartbeat). Commands keep one plain connection each (and say at
# once why PostgreSQL refused it). DATABASE_POOL=false: one connection per request thread.
DATABASE_POOL = (
    {
        "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=12),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=5.0),
    }
    if env.bool("DATABASE_POOL", default=True)
    else None
)
# django-pgtrigger (the change log's triggers, vectors/change_log.py): its migrations only.
# Its schema editor, for altering columns that a trigger's condition names (ours have none),
# would load the database backend in every process at start, command or not.
PGTRIGGER_SCHEMA_EDITOR = False

# ------------------------------------------------------------------------------
# Qdrant (parsed and validated by vectors.conf; bad values become vectors.E0xx checks)
# ------------------------------------------------------------------------------
# A server via QDRANT_URL or QDRANT_HOST; with neither, Qdrant runs embedded at QDRANT_PATH.
QDRANT = {
    "URL": env.str("QDRANT_URL", default=""),
    "HOST": env.str("QDRANT_HOST", default=""),
    "PORT": env.str("QDRANT_PORT", default=""),
    "GRPC_PORT": env.str("QDRANT_GRPC_PORT", default=""),
    "HTTPS": env.str("QDRANT_HTTPS", default=""),
    "API_KEY": env.str("QDRANT_API_KEY", default=""),
    "TIMEOUT": env.str("QDRANT_TIMEOUT", default=""),
    "CHECK_TIMEOUT": env.str("QDRANT_CHECK_TIMEOUT", default=""),
    "PREFER_GRPC": env.str("QDRANT_PREFER_GRPC", default=""),
    "PATH": env.str("QDRANT_PATH", default=""),
    "COLLECTION": env.str("QDRANT_COLLECTION", default=""),
    "VECTOR_SIZE": env.str("QDRANT_VECTOR_SIZE", default=""),
    "DISTANCE": env.str("QDRANT_DISTANCE", default=""),
    "SHARD_NUMBER": env.str("QDRANT_SHARD_NUMBER", default=""),
    "REPLICATION_FACTOR": env.str("QDRANT_REPLICATION_FACTOR", default=""),
    "WRITE_CONSISTENCY_FACTOR": env.str("QDRANT_WRITE_CONSISTENCY_FACTOR", default=""),
    "ON_DISK_VECTORS": env.str("QDRANT_ON_DISK_VECTORS", default=""),
    "QUANTIZATION": env.str("QDRANT_QUANTIZATION", default=""),
    "MIN_FREE_MB": env.str("QDRANT_MIN_FREE_MB", default=""),
}

# Embeddings: "hashing" (offline development stand-in, the default) or "fashion-siglip"
# (Marqo FashionSigLIP's ONNX vision model in VECTORS_MODEL_DIR; requirements-vision.txt).
VECTORS_EMBEDDER = env.str("VECTORS_EMBEDDER", default="hashing")
VECTORS_MODEL_DIR = env.str(
    "VECTORS_MODEL_DIR", default=str(BASE_DIR / "var" / "models" / "marqo-fashionSigLIP")
)
# Which of the published export's precisions the embedder loads and download_model fetches
# (fp32, fp16, int8, uint8, quantized, q4, q4f16, bnb4; vectors/embedders/model_files.py).
VECTORS_MODEL_PRECISION = env.str("VECTORS_MODEL_PRECISION", default="fp32")
# ONNX Runtime execution providers, in order of preference (a GPU machine with
# onnxruntime-gpu: CUDAExecutionProvider,CPUExecutionProvider); intra-op threads (0: ONNX
# Runtime's default, one per core); images per inference.
VECTORS_ONNX_PROVIDERS = env.list("VECTORS_ONNX_PROVIDERS", default=["CPUExecutionProvider"])
VECTORS_ONNX_THREADS = env.int("VECTORS_ONNX_THREADS", default=0)
VECTORS_EMBED_BATCH = env.int("VECTORS_EMBED_BATCH", default=16)
# Product images: seconds for a whole fetch (DNS to last byte), and whether shops' image URLs
# may point at private, loopback or link-local addresses (development and tests only: the
# worker runs inside the deployment's network).
VECTORS_IMAGE_TIMEOUT = env.float("VECTORS_IMAGE_TIMEOUT", default=10.0)
VECTORS_IMAGE_ALLOW_PRIVATE = env.bool("VECTORS_IMAGE_ALLOW_PRIVATE", default=False)
# Shoppers' queries (words, photos) embedded at once per web process, and the seconds a
# query waits for its turn before it is answered 503 with Retry-After: a public endpoint
# that runs the model must not pile up threads behind it.
VECTORS_QUERY_CONCURRENCY = env.int("VECTORS_QUERY_CONCURRENCY", default=2)
VECTORS_QUERY_WAIT = env.float("VECTORS_QUERY_WAIT", default=1.0)
# How many candidates a search's graph walk keeps (Qdrant's hnsw_ef): more finds more of the
# true nearest (recall) and takes longer.
VECTORS_SEARCH_EF = env.int("VECTORS_SEARCH_EF", default=200)
# Products whose vectors are at least this close (cosine) are the same product sold by
# several shops, shown once with their offers (vectors/duplicates.py). Empty: the
# embedder's calibrated default (README, "Duplicates"); 0 or below turns grouping off.
VECTORS_DUPLICATE_THRESHOLD = env.float("VECTORS_DUPLICATE_THRESHOLD", default=None)
# /healthz says "degraded" when the oldest change waiting for the sync (not one waiting out
# a retry delay) is older than this many seconds.
VECTORS_HEALTH_MAX_LAG = env.int("VECTORS_HEALTH_MAX_LAG", default=600)

# GET /metrics (Prometheus) answers a bearer token or the listed addresses/networks only;
# with neither set it is not served at all (404).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# ------------------------------------------------------------------------------
# Prices across currencies (catalog/exchange_rates.py, manage.py load_exchange_rates)
# ------------------------------------------------------------------------------
# Off: a price range compares only prices in its own currency. On: prices in every currency
# the newest loaded rates cover are converted, and answers show the rates' date.
PRICE_CONVERSION = env.bool("PRICE_CONVERSION", default=False)
EXCHANGE_RATES_URL = env.str(
    "EXCHANGE_RATES_URL", default="https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
)
# `check` warns when the newest rates are older than this (the bank skips weekends and
# holidays: a week covers the longest gap).
EXCHANGE_RATES_MAX_AGE_DAYS = env.int("EXCHANGE_RATES_MAX_AGE_DAYS", default=7)

# ------------------------------------------------------------------------------
# Product import (manage.py import_products)
# ------------------------------------------------------------------------------
WOOCOMMERCE_CONSUMER_KEY = env.str("WOOCOMMERCE_CONSUMER_KEY", default="")
WOOCOMMERCE_CONSUMER_SECRET = env.str("WOOCOMMERCE_CONSUMER_SECRET", default="")
# How the importer treats shops' servers: seconds per request, retries on 5xx/429 with
# doubling backoff from IMPORT_HTTP_BACKOFF, and a pause between requests.
IMPORT_HTTP = {
    "timeout": env.float("IMPORT_HTTP_TIMEOUT", default=30.0),
    "retries": env.int("IMPORT_HTTP_RETRIES", default=5),
    "backoff": env.float("IMPORT_HTTP_BACKOFF", default=1.0),
    "max_retry_after": env.float("IMPORT_HTTP_MAX_RETRY_AFTER", default=300.0),
    "min_interval": env.float("IMPORT_HTTP_MIN_INTERVAL", default=0.5),
    "max_page_bytes": env.int("IMPORT_HTTP_MAX_PAGE_BYTES", default=64 * 1024 * 1024),
}

# ------------------------------------------------------------------------------
# Static files (the admin's CSS and JS; WhiteNoise serves them when DEBUG is off)
# ------------------------------------------------------------------------------
STATIC_URL = "static/"
# Where collectstatic gathers files for production (the Docker image sets it). Without it,
# WhiteNoise serves straight from the apps' static folders, which is fine for development.
STATIC_ROOT = env.str("DJANGO_STATIC_ROOT", default="") or None
WHITENOISE_USE_FINDERS = STATIC_ROOT is None

# ------------------------------------------------------------------------------
# Admin login: django-axes locks out repeated failures
# ------------------------------------------------------------------------------
# After AXES_FAILURE_LIMIT failed logins, that user name and, separately, that address are
# refused (429) for AXES_COOLOFF_MINUTES. Attempts are kept in PostgreSQL, so every web
# process sees the same count. Clear a lock-out early: manage.py axes_reset.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# The client's address is the connection's own unless the site sits behind that many proxies
# of its own, each appending to X-Forwarded-For (then the address they saw): a header the
# client sets itself must never choose which counter a failure goes to.
AXES_IPWARE_PROXY_COUNT = env.int("AXES_PROXY_COUNT", default=0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if AXES_IPWARE_PROXY_COUNT else ["REMOTE_ADDR"]
)
AXES_IPWARE_PROXY_ORDER = "right-most"

# ------------------------------------------------------------------------------
# The shop-front API (/api/, vectors/api.py)
# ------------------------------------------------------------------------------
# Shop origins whose pages may call the API from the browser (https://shop.example.com).
CORS_ALLOWED_ORIGINS = env.list("API_CORS_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_ALLOW_METHODS = ["GET", "POST", "OPTIONS"]
# Requests per client address on the search endpoints, as django-ninja reads it ("120/m",
# "10/s", "5000/h"); empty turns the limit off. Counted in the shared cache below, so every
# web process sees the same counts.
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="120/m") or None
# The client's address for the rate limit: the same proxy count as the admin's lock-out.
NINJA_NUM_PROXIES = AXES_IPWARE_PROXY_COUNT
# The cache every web process shares (rate-limit counters): a PostgreSQL table by default
# (created by vectors' migration 0004), Redis with CACHE_URL=redis://host:6379/0.
CACHES = {"default": env.cache_url("CACHE_URL", default="dbcache://catalog_cache")}
if CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
    # Django's database cache counts its table on every write and drops a third of the
    # entries once it holds more than this: room for 10,000 clients a minute before a count
    # is lost, at about a millisecond a write. Busier APIs: Redis.
    CACHES["default"].setdefault("OPTIONS", {}).setdefault("MAX_ENTRIES", 10_000)

# ------------------------------------------------------------------------------
# HTTPS and security headers
# ------------------------------------------------------------------------------
# One switch for everything that assumes the site is served over HTTPS; on by default
# outside development so that a production deploy is secure unless told otherwise.
HTTPS = env.bool("DJANGO_HTTPS", default=not DEBUG)
SECURE_SSL_REDIRECT = HTTPS
# Orchestrators probe health over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
# Preloading is hard to undo (browsers ship the list), so it is opt-in.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_HSTS_PRELOAD", default=False)
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    # Only behind a proxy that sets X-Forwarded-Proto itself and strips it from clients.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# ------------------------------------------------------------------------------
# Logging
# ------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    # Django's own console handler would print its records a second time via the root.
    "loggers": {
        "django": {"handlers": [], "propagate": True},
        # qdrant-client's HTTP layer logs every request at INFO.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # huggingface_hub's HTTP client (download_model), likewise.
        "httpx2": {"level": "WARNING"},
        # django-axes says hello at INFO in every process; lock-outs come at WARNING.
        "axes": {"level": "WARNING"},
    },
}
